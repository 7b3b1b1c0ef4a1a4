import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload } from 'jose';
import Provider, {
  errors as providerErrors,
  type AccessToken,
  type Adapter,
  type AdapterPayload,
  type ClientCredentials,
  type ClientMetadata,
  type Configuration,
  type JWTStructured,
  type KoaContextWithOIDC,
} from 'oidc-provider';
import { identityDefaults, keycloakPaths } from '../common/identity-defaults.js';
import { errorMessage } from '../common/errors.js';

/** A user who can sign in at the development provider. No password is checked. */
export interface DevUser {
  username: string;
  /** Realm roles, copied to `realm_access.roles` of the user's access tokens. */
  roles: string[];
}

/** A confidential client that obtains tokens for itself with the client credentials grant. */
export interface DevServiceAccount {
  clientId: string;
  secret: string;
  /** Realm roles of the service account user, copied to `realm_access.roles`. */
  roles: string[];
  /**
   * Client authentication method at the token endpoint. Default `client_secret_basic`.
   * Keycloak accepts both methods for one client, but this provider accepts only the registered one.
   */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
}

export interface DevIdentityProviderOptions {
  /** TCP port on 127.0.0.1. Default 0, which picks a free port. */
  port?: number;
  /** Users who can sign in. Default `defaultDevUsers`. */
  users?: DevUser[];
  /** Confidential clients with service accounts. Default `defaultDevServiceAccounts`. */
  serviceAccounts?: DevServiceAccount[];
  /** Lifetime of access tokens in seconds. Default 300, as `accessTokenLifespan` of the Keycloak realm. */
  accessTokenTtlSeconds?: number;
  /** Username as whom every device authorization request is approved at once, without a browser (for the local stack). */
  autoApproveDeviceAs?: string;
  /** Exact redirect URIs registered for the browser client. Default `defaultWebRedirectUris`. */
  webRedirectUris?: string[];
  /** Receives one line per start, key rotation, stop and caught error. Lines are discarded when missing. */
  log?: (line: string) => void;
}

/** Successful token endpoint response (RFC 6749 section 5.1). */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
}

export interface DevIdentityProvider {
  /** `http://127.0.0.1:PORT/realms/faas`, the `iss` of every token. */
  readonly issuer: string;
  readonly port: number;
  /** `<issuer>/protocol/openid-connect/certs` */
  readonly jwksUri: string;
  /** `<issuer>/protocol/openid-connect/token` */
  readonly tokenEndpoint: string;
  /** `<issuer>/protocol/openid-connect/auth/device` */
  readonly deviceAuthorizationEndpoint: string;
  /** `<issuer>/device`, the page where a browser user enters a user code. */
  readonly verificationUri: string;
  /** `kid` of the key that signs new tokens. */
  readonly currentKeyId: string;
  /**
   * Obtains an access token for a configured user through the device authorization grant of `faas-cli`,
   * approved with `approveDevice`. Rejects an unknown username.
   */
  userToken(username: string): Promise<string>;
  /** Same flow as `userToken`, returning the whole token response, refresh token included. */
  userTokenResponse(username: string): Promise<TokenResponse>;
  /** Obtains an access token of a service account through the client credentials grant. */
  serviceToken(clientId: string, secret: string): Promise<string>;
  /**
   * Approves a pending device authorization as `username` over HTTP, with the same requests a browser
   * sends: the user code page, the sign-in page and the consent step. Rejects an unknown username or user code.
   */
  approveDevice(userCode: string, username: string): Promise<void>;
  /**
   * Replaces the signing key. New tokens carry the new `kid`. The JWKS then lists the new key and the one
   * before it, so tokens signed before the rotation verify until they expire. Older keys are dropped.
   */
  rotateKeys(): Promise<void>;
  /**
   * Registers one more exact redirect URI of the browser client, such as the callback of a page served on a
   * port picked at start. Its origin may then also call the token endpoint from a browser (CORS).
   */
  addWebRedirectUri(uri: string): void;
  /**
   * Signs `payload` with the provider's current key, outside any grant, so
   * tests can make tokens that a real grant never issues (expired, wrong
   * audience and so on). Nothing but tests may call it.
   */
  signWithCurrentKey(payload: JWTPayload): Promise<string>;
  /** Closes the server and its open connections, which frees the port. */
  stop(): Promise<void>;
}

/** Users of `keycloak/realm-faas.json`, with the same realm roles. */
export const defaultDevUsers: readonly DevUser[] = [
  { username: 'alice', roles: [identityDefaults.userRole] },
  { username: 'admin', roles: [identityDefaults.userRole, identityDefaults.adminRole] },
];

/** Service account client of `keycloak/realm-faas.json`, with its development placeholder secret. */
export const defaultDevServiceAccounts: readonly DevServiceAccount[] = [
  {
    clientId: identityDefaults.serviceClientId,
    secret: 'REPLACE-ME-dev-only-faas-service-secret',
    roles: [identityDefaults.userRole],
  },
];

export const defaultWebRedirectUris: readonly string[] = ['http://127.0.0.1:8080/callback'];

/**
 * Resource indicator (RFC 8707) of the faas API. Every client gets it as its default resource, so access
 * tokens are JWTs with `aud` = `identityDefaults.audience`, without a `resource` parameter in requests.
 */
export const apiResourceIndicator = 'urn:faas:api';

const realmPaths = keycloakPaths(identityDefaults.realm);
const openidConnectPrefix = '/protocol/openid-connect';
/** Path of the device user code page under the issuer, as in Keycloak. */
const codeVerificationRoute = '/device';
/** Path prefix of this provider's own sign-in and consent pages under the issuer. */
const interactionRoute = '/interaction';

/** Scopes that clients may request. `profile` and `email` only exist so that Keycloak-style requests succeed. */
const supportedScopes = ['openid', 'offline_access', 'profile', 'email'];
/**
 * Scopes that Keycloak writes into `scope` of every token of the realm's clients, because they are default
 * client scopes there (`basic` and `roles` are default scopes too, but Keycloak leaves them out of the claim).
 */
const keycloakDefaultTokenScopes = ['profile', 'email'];

const serviceAccountUsernamePrefix = 'service-account-';
const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code';
/** Header that makes a device authorization request skip `autoApproveDeviceAs`. `userTokenResponse` sends it. */
const skipAutoApprovalHeader = 'x-dev-skip-auto-approval';

const deviceCodeTtlSeconds = 600;
const devicePollingIntervalSeconds = 5;
const interactionTtlSeconds = 3600;
const sessionTtlSeconds = 14 * 24 * 3600;
/** Keycloak's default offline session idle timeout is 30 days. */
const refreshTokenTtlSeconds = 30 * 24 * 3600;
const grantTtlSeconds = refreshTokenTtlSeconds;
const authorizationCodeTtlSeconds = 60;
/** Artifacts stay in the store this long past their expiry, so the provider reports "expired", not "not found". */
const storeExpiryGraceMs = 60_000;
const storeSweepEveryUpserts = 500;
const maxFormBodyBytes = 8 * 1024;
/** Redirects and pages that one browser-style approval may pass through before it is treated as a loop. */
const maxApprovalSteps = 10;

/** UUID namespace of the `sub` values this provider derives from usernames. */
const subjectNamespace = Buffer.from('6f1c2b7e5a8d4c3f9e0a1b2c3d4e5f60', 'hex');

/**
 * Returns the stable `sub` of a username: a name-based UUID (version 5, RFC 9562) in a namespace of this
 * provider. Keycloak uses random UUIDs instead, so these values only match between runs of this provider.
 */
export function subjectForUsername(username: string): string {
  const digest = createHash('sha1').update(subjectNamespace).update(username, 'utf8').digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Returns the username of a client's service account user, `service-account-<clientId>` as in Keycloak. */
export function serviceAccountUsername(clientId: string): string {
  return `${serviceAccountUsernamePrefix}${clientId}`;
}

// ---------------------------------------------------------------------------
// Configuration checks
// ---------------------------------------------------------------------------

interface CheckedOptions {
  port: number;
  users: DevUser[];
  serviceAccounts: DevServiceAccount[];
  accessTokenTtlSeconds: number;
  autoApproveDeviceAs: string | undefined;
  webRedirectUris: string[];
  log: (line: string) => void;
}

function checkOptions(options: DevIdentityProviderOptions): CheckedOptions {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`Invalid port ${port}: expected an integer from 0 to 65535`);
  }

  const accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? 300;
  if (!Number.isInteger(accessTokenTtlSeconds) || accessTokenTtlSeconds < 1) {
    throw new Error(`Invalid accessTokenTtlSeconds ${accessTokenTtlSeconds}: expected a positive integer`);
  }

  const users = (options.users ?? defaultDevUsers).map((user) => ({ username: user.username, roles: [...user.roles] }));
  const usernames = new Set<string>();
  for (const user of users) {
    if (user.username.trim() === '' || user.username !== user.username.trim()) {
      throw new Error(`Invalid username ${JSON.stringify(user.username)}: expected a non-empty name without surrounding spaces`);
    }
    if (user.username.startsWith(serviceAccountUsernamePrefix)) {
      throw new Error(`Invalid username ${user.username}: the prefix ${serviceAccountUsernamePrefix} is reserved for service accounts`);
    }
    if (usernames.has(user.username)) {
      throw new Error(`Duplicate username ${user.username} in the users option`);
    }
    usernames.add(user.username);
  }

  const publicClientIds = new Set<string>([identityDefaults.cliClientId, identityDefaults.browserClientId]);
  const serviceAccounts = (options.serviceAccounts ?? defaultDevServiceAccounts).map((account) => ({
    ...account,
    roles: [...account.roles],
  }));
  const clientIds = new Set<string>();
  for (const account of serviceAccounts) {
    if (account.clientId.trim() === '') {
      throw new Error('Invalid service account: clientId is empty');
    }
    if (publicClientIds.has(account.clientId)) {
      throw new Error(`Invalid service account clientId ${account.clientId}: it is the id of a public client of this provider`);
    }
    if (clientIds.has(account.clientId)) {
      throw new Error(`Duplicate service account clientId ${account.clientId}`);
    }
    if (account.secret === '') {
      throw new Error(`Invalid service account ${account.clientId}: the secret is empty`);
    }
    clientIds.add(account.clientId);
  }

  const autoApproveDeviceAs = options.autoApproveDeviceAs;
  if (autoApproveDeviceAs !== undefined && !usernames.has(autoApproveDeviceAs)) {
    throw new Error(`Invalid autoApproveDeviceAs ${autoApproveDeviceAs}: no such user among ${[...usernames].join(', ') || '(none)'}`);
  }

  const webRedirectUris = [...(options.webRedirectUris ?? defaultWebRedirectUris)];
  for (const uri of webRedirectUris) {
    if (URL.parse(uri) === null) {
      throw new Error(`Invalid web redirect URI ${uri}: expected an absolute URL`);
    }
  }

  return {
    port,
    users,
    serviceAccounts,
    accessTokenTtlSeconds,
    autoApproveDeviceAs,
    webRedirectUris,
    log: options.log ?? (() => {}),
  };
}

// ---------------------------------------------------------------------------
// Artifact store shared by the provider instances of one DevIdentityProvider
// ---------------------------------------------------------------------------

interface StoredArtifact {
  payload: AdapterPayload;
  /** Epoch milliseconds after which the artifact is removed. Undefined for artifacts without expiry. */
  removeAt: number | undefined;
}

/** Models whose artifacts are revoked together with their grant. */
const grantBoundModels = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/**
 * In-memory storage of codes, sessions, grants and refresh tokens. It outlives key rotation, which replaces
 * the provider instance, so sign-ins, device codes and refresh tokens survive `rotateKeys()`.
 */
class ArtifactStore {
  private readonly artifacts = new Map<string, StoredArtifact>();
  private readonly keysByUserCode = new Map<string, string>();
  private readonly keysBySessionUid = new Map<string, string>();
  private readonly keysByGrantId = new Map<string, Set<string>>();
  private upsertsSinceSweep = 0;

  get(key: string): AdapterPayload | undefined {
    const artifact = this.artifacts.get(key);
    if (artifact === undefined) {
      return undefined;
    }
    if (artifact.removeAt !== undefined && artifact.removeAt <= Date.now()) {
      this.artifacts.delete(key);
      return undefined;
    }
    return artifact.payload;
  }

  set(model: string, key: string, payload: AdapterPayload, expiresInSeconds: number | undefined): void {
    const removeAt = expiresInSeconds === undefined ? undefined : Date.now() + expiresInSeconds * 1000 + storeExpiryGraceMs;
    this.artifacts.set(key, { payload, removeAt });

    if (typeof payload.userCode === 'string') {
      this.keysByUserCode.set(payload.userCode, key);
    }
    if (model === 'Session' && typeof payload.uid === 'string') {
      this.keysBySessionUid.set(payload.uid, key);
    }
    if (grantBoundModels.has(model) && typeof payload.grantId === 'string') {
      const members = this.keysByGrantId.get(payload.grantId) ?? new Set<string>();
      members.add(key);
      this.keysByGrantId.set(payload.grantId, members);
    }

    this.upsertsSinceSweep += 1;
    if (this.upsertsSinceSweep >= storeSweepEveryUpserts) {
      this.sweep();
    }
  }

  delete(key: string): void {
    this.artifacts.delete(key);
  }

  findByUserCode(userCode: string): AdapterPayload | undefined {
    const key = this.keysByUserCode.get(userCode);
    return key === undefined ? undefined : this.get(key);
  }

  findBySessionUid(uid: string): AdapterPayload | undefined {
    const key = this.keysBySessionUid.get(uid);
    return key === undefined ? undefined : this.get(key);
  }

  revokeGrant(grantId: string): void {
    for (const key of this.keysByGrantId.get(grantId) ?? []) {
      this.artifacts.delete(key);
    }
    this.keysByGrantId.delete(grantId);
  }

  /** Removes expired artifacts and index entries that point at removed artifacts. */
  private sweep(): void {
    this.upsertsSinceSweep = 0;
    const now = Date.now();
    for (const [key, artifact] of this.artifacts) {
      if (artifact.removeAt !== undefined && artifact.removeAt <= now) {
        this.artifacts.delete(key);
      }
    }
    for (const index of [this.keysByUserCode, this.keysBySessionUid]) {
      for (const [value, key] of index) {
        if (!this.artifacts.has(key)) {
          index.delete(value);
        }
      }
    }
    for (const [grantId, members] of this.keysByGrantId) {
      for (const key of members) {
        if (!this.artifacts.has(key)) {
          members.delete(key);
        }
      }
      if (members.size === 0) {
        this.keysByGrantId.delete(grantId);
      }
    }
  }
}

/** oidc-provider storage adapter for one model (AccessToken, Session, DeviceCode, ...) over an ArtifactStore. */
class ArtifactStoreAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly store: ArtifactStore,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.store.set(this.model, this.key(id), payload, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.store.get(this.key(id));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.store.findByUserCode(userCode);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.store.findBySessionUid(uid);
  }

  async consume(id: string): Promise<void> {
    const payload = this.store.get(this.key(id));
    if (payload !== undefined) {
      payload.consumed = Math.floor(Date.now() / 1000);
    }
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.store.revokeGrant(grantId);
  }
}

// ---------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------

interface SigningKey {
  kid: string;
  /** Private RSA key as a JWK with `kid`, `alg` RS256 and `use` sig. */
  privateJwk: JWK;
}

async function createSigningKey(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

// ---------------------------------------------------------------------------
// HTML pages of the device flow and the sign-in step
// ---------------------------------------------------------------------------

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Wraps page content in a self-contained HTML document that loads nothing from other hosts. */
function renderPage(title: string, content: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - faas development sign-in</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem; }
button { display: block; width: 100%; margin: 0.5rem 0; padding: 0.6rem; font-size: 1rem; cursor: pointer; }
input[type=text] { width: 100%; padding: 0.6rem; font-size: 1.2rem; text-transform: uppercase; box-sizing: border-box; }
#error { color: #b00020; }
.note { color: #555; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${content}
</body>
</html>`;
}

function describeDeviceError(error: Error | undefined): string | undefined {
  if (error === undefined) {
    return undefined;
  }
  switch (error.name) {
    case 'NoCodeError':
      return 'No user code was submitted.';
    case 'NotFoundError':
      return 'The user code was not found. Check the code shown by the command line and try again.';
    case 'ExpiredError':
      return 'The user code has expired. Start the sign-in on the command line again.';
    case 'AlreadyUsedError':
      return 'The user code has already been used.';
    case 'AbortedError':
      return 'The sign-in was cancelled.';
    default:
      return `The request failed: ${error.message}`;
  }
}

async function renderUserCodeInput(ctx: KoaContextWithOIDC, form: string, _out?: unknown, error?: Error): Promise<void> {
  const message = describeDeviceError(error);
  if (message !== undefined) {
    // oidc-provider returns these re-rendered errors with status 200, so 400 is set for scripted clients.
    ctx.status = 400;
  }
  ctx.type = 'html';
  ctx.body = renderPage(
    'Device sign-in',
    `${message === undefined ? '<p>Enter the code that the command line shows.</p>' : `<p id="error">${escapeHtml(message)}</p>`}
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

async function renderUserCodeConfirm(
  ctx: KoaContextWithOIDC,
  form: string,
  client: { clientId: string },
  _deviceInfo: unknown,
  userCode: string,
): Promise<void> {
  ctx.type = 'html';
  ctx.body = renderPage(
    'Confirm device',
    `<p>Client <strong>${escapeHtml(client.clientId)}</strong> requests access. Continue only if the command line shows this code:</p>
<p><code>${escapeHtml(userCode)}</code></p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>`,
  );
}

async function renderDeviceSuccess(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.body = renderPage('Device signed in', '<p id="device-approved">The device is signed in. You can close this page.</p>');
}

async function renderProviderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }): Promise<void> {
  ctx.type = 'html';
  const description = out.error_description === undefined ? '' : `: ${out.error_description}`;
  ctx.body = renderPage('Sign-in failed', `<p id="error">${escapeHtml(`${out.error}${description}`)}</p>`);
}

function renderLoginPage(uid: string, clientId: string, users: DevUser[], message?: string): string {
  const action = `${realmPaths.issuer}${interactionRoute}/${encodeURIComponent(uid)}`;
  const buttons = users
    .map((user) => {
      const roles = user.roles.length === 0 ? 'no roles' : user.roles.join(', ');
      return `<button type="submit" name="username" value="${escapeHtml(user.username)}">${escapeHtml(user.username)} (${escapeHtml(roles)})</button>`;
    })
    .join('\n');
  return renderPage(
    'Sign in',
    `${message === undefined ? '' : `<p id="error">${escapeHtml(message)}</p>`}
<p>Client <strong>${escapeHtml(clientId)}</strong> requests sign-in. Choose a user.</p>
<p class="note">Development provider: no password is checked.</p>
<form method="post" action="${action}/login">
${buttons}
</form>
<form method="post" action="${action}/abort">
<button type="submit">Cancel</button>
</form>`,
  );
}

/** Returns the text of the `id="error"` element of a page from this provider, or the start of the page. */
function summarizePage(html: string): string {
  const error = /<p id="error">([^<]*)<\/p>/.exec(html)?.[1];
  if (error !== undefined) {
    return error;
  }
  return html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
}

// ---------------------------------------------------------------------------
// Small HTTP helpers
// ---------------------------------------------------------------------------

async function readFormBody(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    received += buffer.length;
    if (received > maxFormBodyBytes) {
      throw new Error(`Request body exceeds ${maxFormBodyBytes} bytes`);
    }
    chunks.push(buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(response: ServerResponse, status: number, html: string): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  response.end(html);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

/** Cookies of one scripted browser session, matched to requests by path. Domain and expiry dates are ignored. */
class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const separator = pair.indexOf('=');
      if (separator <= 0) {
        continue;
      }
      const name = pair.slice(0, separator).trim();
      const value = pair.slice(separator + 1).trim();
      let path = '/';
      let expired = value === '';
      for (const attribute of attributes) {
        const [attributeName, attributeValue = ''] = attribute.trim().split('=', 2);
        const lowerName = attributeName.toLowerCase();
        if (lowerName === 'path' && attributeValue !== '') {
          path = attributeValue;
        } else if (lowerName === 'expires' && Date.parse(attributeValue) <= Date.now()) {
          expired = true;
        } else if (lowerName === 'max-age' && Number(attributeValue) <= 0) {
          expired = true;
        }
      }
      const key = `${path};${name}`;
      if (expired) {
        this.cookies.delete(key);
      } else {
        this.cookies.set(key, { name, value, path });
      }
    }
  }

  headerFor(url: URL): string {
    const matching = [...this.cookies.values()].filter((cookie) => {
      const prefix = cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`;
      return url.pathname === cookie.path || url.pathname.startsWith(prefix);
    });
    return matching.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
  }
}

/** Sends one request as a browser would, with the cookies of the jar, and stores the cookies of the response. */
async function browserRequest(jar: CookieJar, url: URL, form?: Record<string, string>): Promise<Response> {
  const headers: Record<string, string> = { accept: 'text/html' };
  const cookie = jar.headerFor(url);
  if (cookie !== '') {
    headers.cookie = cookie;
  }
  let body: string | undefined;
  if (form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  const response = await fetch(url, { method: form === undefined ? 'GET' : 'POST', headers, body, redirect: 'manual' });
  jar.store(response);
  return response;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** Token endpoint error response (RFC 6749 section 5.2). */
export class TokenRequestError extends Error {
  constructor(
    readonly grantType: string,
    readonly status: number,
    readonly error: string,
    readonly errorDescription: string | undefined,
  ) {
    super(`Token request with grant_type ${grantType} failed with HTTP ${status}: ${error}${errorDescription === undefined ? '' : ` (${errorDescription})`}`);
    this.name = 'TokenRequestError';
  }
}

async function postTokenRequest(
  tokenEndpoint: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<TokenResponse> {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new TokenRequestError(
      fields.grant_type ?? '(missing)',
      response.status,
      typeof body.error === 'string' ? body.error : 'invalid_response',
      typeof body.error_description === 'string' ? body.error_description : undefined,
    );
  }
  return body as unknown as TokenResponse;
}

// ---------------------------------------------------------------------------
// Provider instance
// ---------------------------------------------------------------------------

interface ProviderContext {
  issuer: string;
  options: CheckedOptions;
  usersBySubject: Map<string, DevUser>;
  serviceAccountsByClientId: Map<string, DevServiceAccount>;
  store: ArtifactStore;
  cookieKeys: string[];
  /** Approves a device authorization at once when `autoApproveDeviceAs` is set. */
  autoApprove: (userCode: string) => Promise<void>;
}

function buildClients(options: CheckedOptions): ClientMetadata[] {
  const cliClient: ClientMetadata = {
    client_id: identityDefaults.cliClientId,
    client_name: 'faas CLI',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: [deviceCodeGrantType, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  };
  const webClient: ClientMetadata = {
    client_id: identityDefaults.browserClientId,
    client_name: 'faas web page',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: options.webRedirectUris,
  };
  const serviceClients = options.serviceAccounts.map(
    (account): ClientMetadata => ({
      client_id: account.clientId,
      client_secret: account.secret,
      token_endpoint_auth_method: account.tokenEndpointAuthMethod ?? 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    }),
  );
  return [cliClient, webClient, ...serviceClients];
}

/**
 * Adds the claims Keycloak puts into access tokens: `typ`, `azp`, `preferred_username`, `realm_access.roles`,
 * `sid` (the sign-in session) for users, and `scope` with the default client scopes. Service account tokens
 * get the `sub` of the service account user, where oidc-provider would put the client id.
 */
function addKeycloakClaims(context: ProviderContext, token: AccessToken | ClientCredentials, jwt: JWTStructured): void {
  const payload = jwt.payload;
  const clientId = token.clientId;
  if (clientId === undefined) {
    throw new Error('Missing client id in an access token');
  }
  payload.typ = 'Bearer';
  payload.azp = clientId;

  if (token.kind === 'ClientCredentials') {
    const account = context.serviceAccountsByClientId.get(clientId);
    if (account === undefined) {
      throw new Error(`Client ${clientId} used the client credentials grant but has no service account`);
    }
    const username = serviceAccountUsername(clientId);
    payload.sub = subjectForUsername(username);
    payload.preferred_username = username;
    payload.realm_access = { roles: [...account.roles] };
  } else {
    const accountId = token.accountId;
    const user = accountId === undefined ? undefined : context.usersBySubject.get(accountId);
    if (user === undefined) {
      throw new Error(`Access token for unknown account ${String(accountId)}`);
    }
    payload.preferred_username = user.username;
    payload.realm_access = { roles: [...user.roles] };
    // oidc-provider sets `sid` only for clients with front- or back-channel logout; Keycloak always sends one.
    const sessionId = token.sid ?? token.sessionUid;
    if (typeof sessionId === 'string') {
      payload.sid = sessionId;
    }
  }

  const scopes = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : []);
  for (const scope of keycloakDefaultTokenScopes) {
    scopes.add(scope);
  }
  payload.scope = [...scopes].join(' ');
}

function buildProvider(context: ProviderContext, signingKeys: SigningKey[]): Provider {
  const { options } = context;
  const resourceServer = {
    scope: supportedScopes.join(' '),
    audience: identityDefaults.audience,
    accessTokenFormat: 'jwt' as const,
    accessTokenTTL: options.accessTokenTtlSeconds,
    jwt: { sign: { alg: 'RS256' as const } },
  };

  const configuration: Configuration = {
    adapter: (model: string) => new ArtifactStoreAdapter(model, context.store),
    clients: buildClients(options),
    // The first key signs; the others stay in the JWKS for verification only.
    jwks: { keys: signingKeys.map((key) => key.privateJwk) as NonNullable<Configuration['jwks']>['keys'] },
    cookies: { keys: context.cookieKeys },
    scopes: supportedScopes,
    // Only the code flow: the realm's clients have the implicit flow disabled.
    responseTypes: ['code'],
    claims: { openid: ['sub'], profile: ['preferred_username'] },
    routes: {
      authorization: `${openidConnectPrefix}/auth`,
      device_authorization: `${openidConnectPrefix}/auth/device`,
      code_verification: codeVerificationRoute,
      token: `${openidConnectPrefix}/token`,
      jwks: `${openidConnectPrefix}/certs`,
      userinfo: `${openidConnectPrefix}/userinfo`,
      revocation: `${openidConnectPrefix}/revoke`,
      introspection: `${openidConnectPrefix}/token/introspect`,
      end_session: `${openidConnectPrefix}/logout`,
      pushed_authorization_request: `${openidConnectPrefix}/ext/par/request`,
    },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: renderUserCodeInput,
        userCodeConfirmSource: renderUserCodeConfirm,
        successSource: renderDeviceSuccess,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => apiResourceIndicator,
        // Tokens of every grant go to the API resource, even with the openid scope and no resource parameter.
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== apiResourceIndicator) {
            throw new providerErrors.InvalidTarget(`unknown resource indicator, expected ${apiResourceIndicator}`);
          }
          return resourceServer;
        },
      },
      // NOTE: the userinfo endpoint only accepts opaque access tokens, and every token here is a JWT for the
      // API, so it is off and discovery lists no userinfo_endpoint (Keycloak has one).
      userinfo: { enabled: false },
      // NOTE: RP-initiated logout is off, so discovery lists no end_session_endpoint (Keycloak has one).
      rpInitiatedLogout: { enabled: false },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      clientCredentials: { enabled: true },
    },
    ttl: {
      AccessToken: options.accessTokenTtlSeconds,
      ClientCredentials: options.accessTokenTtlSeconds,
      IdToken: options.accessTokenTtlSeconds,
      AuthorizationCode: authorizationCodeTtlSeconds,
      DeviceCode: deviceCodeTtlSeconds,
      RefreshToken: refreshTokenTtlSeconds,
      Interaction: interactionTtlSeconds,
      Session: sessionTtlSeconds,
      Grant: grantTtlSeconds,
    },
    interactions: {
      url: (_ctx, interaction) => `${realmPaths.issuer}${interactionRoute}/${interaction.uid}`,
    },
    findAccount: (_ctx, sub) => {
      const user = context.usersBySubject.get(sub);
      if (user === undefined) {
        return undefined;
      }
      return { accountId: sub, claims: () => ({ sub, preferred_username: user.username }) };
    },
    // Keycloak issues refresh tokens to the CLI with or without offline_access; oidc-provider would require it.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    formats: {
      customizers: {
        jwt: (_ctx, token, jwt) => addKeycloakClaims(context, token, jwt),
      },
    },
    clientBasedCORS: (_ctx, origin, client) =>
      (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin),
    renderError: renderProviderError,
  };

  const provider = new Provider(context.issuer, configuration);

  provider.use(async (ctx, next) => {
    await next();
    const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
    const body = ctx.body as { user_code?: unknown; interval?: unknown } | undefined;
    if (oidc?.route !== 'device_authorization' || ctx.status !== 200 || typeof body?.user_code !== 'string') {
      return;
    }

    // oidc-provider leaves `interval` out, which means 5 s (RFC 8628 section 3.2). Keycloak sends it.
    body.interval ??= devicePollingIntervalSeconds;

    if (options.autoApproveDeviceAs === undefined || ctx.get(skipAutoApprovalHeader) !== '') {
      return;
    }
    try {
      await context.autoApprove(body.user_code);
    } catch (error) {
      const message = errorMessage(error);
      options.log(`Automatic approval of device user code ${body.user_code} as ${options.autoApproveDeviceAs} failed: ${message}`);
      ctx.status = 500;
      ctx.body = {
        error: 'server_error',
        error_description: `automatic approval as ${options.autoApproveDeviceAs} failed: ${message}`,
      };
    }
  });

  provider.on('server_error', (_ctx: unknown, error: Error) => {
    options.log(`Identity provider server error: ${error.stack ?? error.message}`);
  });

  return provider;
}

// ---------------------------------------------------------------------------
// Sign-in and consent pages (the "interaction" of oidc-provider)
// ---------------------------------------------------------------------------

/**
 * Serves the sign-in and consent steps at `<issuer>/interaction/<uid>`. GET shows the sign-in page, or grants
 * consent at once and redirects. POST to `.../login` signs in the chosen user, and POST to `.../abort` cancels.
 */
async function handleInteraction(
  provider: Provider,
  context: ProviderContext,
  request: IncomingMessage,
  response: ServerResponse,
  subPath: string,
): Promise<void> {
  const match = /^\/([^/]+)(?:\/(login|abort))?$/.exec(subPath);
  if (match === null) {
    sendHtml(response, 404, renderPage('Not found', '<p id="error">Unknown sign-in page.</p>'));
    return;
  }
  const uid = decodeURIComponent(match[1]);
  const action = match[2];
  const method = request.method ?? 'GET';

  let interaction;
  try {
    interaction = await provider.interactionDetails(request, response);
  } catch (error) {
    const message = errorMessage(error);
    sendHtml(response, 400, renderPage('Sign-in failed', `<p id="error">${escapeHtml(`The sign-in session was not found (${message}). Start the sign-in again.`)}</p>`));
    return;
  }
  if (interaction.uid !== uid) {
    sendHtml(response, 400, renderPage('Sign-in failed', '<p id="error">This sign-in page is out of date. Start the sign-in again.</p>'));
    return;
  }
  const clientId = String(interaction.params.client_id ?? '');

  if (action === undefined && method === 'GET') {
    if (interaction.prompt.name === 'login') {
      sendHtml(response, 200, renderLoginPage(uid, clientId, context.options.users));
      return;
    }
    if (interaction.prompt.name === 'consent') {
      const grantId = await grantRequestedScopes(provider, interaction);
      await provider.interactionFinished(request, response, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    sendHtml(response, 400, renderPage('Sign-in failed', `<p id="error">Unsupported prompt ${escapeHtml(interaction.prompt.name)}.</p>`));
    return;
  }

  if (method !== 'POST') {
    response.writeHead(405, { allow: action === undefined ? 'GET' : 'POST' });
    response.end();
    return;
  }

  if (action === 'abort') {
    await provider.interactionFinished(
      request,
      response,
      { error: 'access_denied', error_description: 'The user cancelled the sign-in' },
      { mergeWithLastSubmission: false },
    );
    return;
  }

  const form = await readFormBody(request);
  const username = form.get('username') ?? '';
  const user = context.options.users.find((candidate) => candidate.username === username);
  if (user === undefined) {
    const message = `Unknown user ${JSON.stringify(username)}. Choose one of the users below.`;
    sendHtml(response, 400, renderLoginPage(uid, clientId, context.options.users, message));
    return;
  }
  await provider.interactionFinished(request, response, { login: { accountId: subjectForUsername(user.username) } }, { mergeWithLastSubmission: false });
}

/** Grants every scope and claim the pending request lacks, as an automatic consent, and returns the grant id. */
async function grantRequestedScopes(provider: Provider, interaction: Awaited<ReturnType<Provider['interactionDetails']>>): Promise<string> {
  const accountId = interaction.session?.accountId;
  const clientId = interaction.params.client_id;
  if (accountId === undefined || typeof clientId !== 'string') {
    throw new Error('Consent requested before sign-in');
  }

  const existing = interaction.grantId === undefined ? undefined : await provider.Grant.find(interaction.grantId);
  const grant = existing ?? new provider.Grant({ accountId, clientId });
  const details = interaction.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (details.missingOIDCScope !== undefined) {
    grant.addOIDCScope(details.missingOIDCScope.join(' '));
  }
  if (details.missingOIDCClaims !== undefined) {
    grant.addOIDCClaims(details.missingOIDCClaims);
  }
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

/**
 * Starts an OpenID Provider on 127.0.0.1 that issues Keycloak-shaped JWT access tokens for the realm
 * `identityDefaults.realm`. Its clients are `faas-cli` (public, device code and refresh token grants),
 * `faas-web` (public, authorization code with PKCE S256) and one confidential client per service account.
 * All state is in memory and is lost at `stop()`.
 */
export async function startDevIdentityProvider(options: DevIdentityProviderOptions = {}): Promise<DevIdentityProvider> {
  const checked = checkOptions(options);
  const log = checked.log;

  let handleProviderRequest: ((request: IncomingMessage, response: ServerResponse) => Promise<void>) | undefined;
  let provider: Provider | undefined;
  let context: ProviderContext | undefined;

  const server: Server = createServer((request, response) => {
    dispatch(request, response).catch((error: unknown) => {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`Identity provider request ${request.method} ${request.url} failed: ${message}`);
      if (!response.headersSent) {
        sendJson(response, 500, { error: 'server_error', error_description: 'internal error of the development identity provider' });
      } else {
        response.destroy();
      }
    });
  });

  async function dispatch(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const target = request.url ?? '/';
    const path = target.split('?', 1)[0];
    const mountPath = realmPaths.issuer;
    if (handleProviderRequest === undefined || provider === undefined || context === undefined) {
      sendJson(response, 503, { error: 'temporarily_unavailable', error_description: 'the identity provider is starting' });
      return;
    }
    if (path !== mountPath && !path.startsWith(`${mountPath}/`)) {
      sendJson(response, 404, { error: 'not_found', error_description: `no realm at ${path}, the issuer is ${context.issuer}` });
      return;
    }
    const subPath = path.slice(mountPath.length);
    if (subPath.startsWith(`${interactionRoute}/`)) {
      await handleInteraction(provider, context, request, response, subPath.slice(interactionRoute.length));
      return;
    }
    // Mounted the way Express mounts a sub-app: oidc-provider derives the mount path from originalUrl.
    (request as IncomingMessage & { originalUrl?: string }).originalUrl = target;
    const rest = target.slice(mountPath.length);
    request.url = rest.startsWith('/') ? rest : `/${rest}`;
    await handleProviderRequest(request, response);
  }

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', (error) => rejectListen(new Error(`Failed to listen on 127.0.0.1:${checked.port}: ${error.message}`)));
    server.listen(checked.port, '127.0.0.1', () => resolveListen());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    server.close();
    throw new Error(`Unexpected listen address ${String(address)} for the identity provider`);
  }

  const port = address.port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const issuer = `${baseUrl}${realmPaths.issuer}`;
  const tokenEndpoint = `${baseUrl}${realmPaths.token}`;
  const deviceAuthorizationEndpoint = `${baseUrl}${realmPaths.deviceAuthorization}`;
  const verificationUri = `${issuer}${codeVerificationRoute}`;
  const usersByName = new Map(checked.users.map((user) => [user.username, user]));
  let stopped = false;

  function assertRunning(): void {
    if (stopped) {
      throw new Error(`The identity provider at ${issuer} is stopped`);
    }
  }

  function requireUser(username: string): DevUser {
    const user = usersByName.get(username);
    if (user === undefined) {
      throw new Error(`Unknown user ${username}: configured users are ${[...usersByName.keys()].join(', ') || '(none)'}`);
    }
    return user;
  }

  async function approveDevice(userCode: string, username: string): Promise<void> {
    assertRunning();
    requireUser(username);
    const jar = new CookieJar();

    // The user code page stores an anti-forgery token in the session and puts it into its form.
    let url = new URL(verificationUri);
    let response = await browserRequest(jar, url);
    const inputPage = await response.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(inputPage)?.[1];
    if (!response.ok || xsrf === undefined) {
      throw new Error(`Device approval failed: ${url.href} returned HTTP ${response.status} without a form: ${summarizePage(inputPage)}`);
    }

    response = await browserRequest(jar, url, { xsrf, user_code: userCode, confirm: 'yes' });
    let loginSubmitted = false;
    for (let step = 0; step < maxApprovalSteps; step += 1) {
      if (isRedirect(response.status)) {
        const location = response.headers.get('location');
        await response.body?.cancel();
        if (location === null) {
          throw new Error(`Device approval failed: redirect without a location from ${url.href}`);
        }
        url = new URL(location, url);
        if (url.origin !== baseUrl) {
          throw new Error(`Device approval failed: redirect to another server, ${url.href}`);
        }
        response = await browserRequest(jar, url);
        continue;
      }

      const page = await response.text();
      if (response.status !== 200) {
        throw new Error(`Device approval of user code ${userCode} failed at ${url.pathname} with HTTP ${response.status}: ${summarizePage(page)}`);
      }
      if (url.pathname.startsWith(`${realmPaths.issuer}${interactionRoute}/`)) {
        if (loginSubmitted) {
          throw new Error(`Device approval failed: the sign-in page came back after signing in as ${username}`);
        }
        loginSubmitted = true;
        url = new URL(`${url.pathname}/login`, url);
        response = await browserRequest(jar, url, { username });
        continue;
      }
      break;
    }

    // The device code itself is checked, because the token endpoint reads the approval from it.
    const normalizedUserCode = userCode.toUpperCase().replace(/\W/g, '');
    const deviceCode = await provider?.DeviceCode.findByUserCode(normalizedUserCode, { ignoreExpiration: true });
    const expectedSubject = subjectForUsername(username);
    if (deviceCode?.accountId !== expectedSubject) {
      throw new Error(`Device approval of user code ${userCode} as ${username} did not complete. The last page was ${url.pathname} (HTTP ${response.status})`);
    }
  }

  async function userTokenResponse(username: string): Promise<TokenResponse> {
    assertRunning();
    requireUser(username);
    const response = await fetch(deviceAuthorizationEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', [skipAutoApprovalHeader]: '1' },
      body: new URLSearchParams({ client_id: identityDefaults.cliClientId, scope: 'openid offline_access' }).toString(),
    });
    const body = (await response.json()) as Record<string, unknown>;
    if (!response.ok || typeof body.device_code !== 'string' || typeof body.user_code !== 'string') {
      throw new Error(`Device authorization request failed with HTTP ${response.status}: ${JSON.stringify(body)}`);
    }
    await approveDevice(body.user_code, username);
    return postTokenRequest(tokenEndpoint, {
      grant_type: deviceCodeGrantType,
      device_code: body.device_code,
      client_id: identityDefaults.cliClientId,
    });
  }

  async function serviceToken(clientId: string, secret: string): Promise<string> {
    assertRunning();
    const account = checked.serviceAccounts.find((candidate) => candidate.clientId === clientId);
    const fields: Record<string, string> = { grant_type: 'client_credentials' };
    const headers: Record<string, string> = {};
    if (account?.tokenEndpointAuthMethod === 'client_secret_post') {
      fields.client_id = clientId;
      fields.client_secret = secret;
    } else {
      // RFC 6749 section 2.3.1 encodes both parts before they are joined, and oidc-provider decodes them.
      const credentials = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
      headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    const tokens = await postTokenRequest(tokenEndpoint, fields, headers);
    return tokens.access_token;
  }

  let signingKeys = [await createSigningKey()];
  context = {
    issuer,
    options: checked,
    usersBySubject: new Map(checked.users.map((user) => [subjectForUsername(user.username), user])),
    serviceAccountsByClientId: new Map(checked.serviceAccounts.map((account) => [account.clientId, account])),
    store: new ArtifactStore(),
    cookieKeys: [randomBytes(32).toString('base64url')],
    autoApprove: (userCode) => approveDevice(userCode, checked.autoApproveDeviceAs ?? ''),
  };
  const activeContext = context;
  const activate = (keys: SigningKey[]): void => {
    const next = buildProvider(activeContext, keys);
    provider = next;
    handleProviderRequest = next.callback();
  };
  activate(signingKeys);
  log(`Identity provider started: issuer ${issuer}, signing key ${signingKeys[0].kid}`);

  return {
    issuer,
    port,
    jwksUri: `${baseUrl}${realmPaths.jwks}`,
    tokenEndpoint,
    deviceAuthorizationEndpoint,
    verificationUri,
    get currentKeyId() {
      return signingKeys[0].kid;
    },
    userToken: async (username) => (await userTokenResponse(username)).access_token,
    async signWithCurrentKey(payload) {
      const key = signingKeys[0];
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: key.kid })
        .sign(await importJWK(key.privateJwk, 'RS256'));
    },
    userTokenResponse,
    serviceToken,
    approveDevice,
    async rotateKeys() {
      assertRunning();
      const nextKey = await createSigningKey();
      const previousKey = signingKeys[0];
      signingKeys = [nextKey, previousKey];
      activate(signingKeys);
      log(`Identity provider rotated its signing key: new kid ${nextKey.kid}, previous kid ${previousKey.kid} kept for verification`);
    },
    addWebRedirectUri(uri) {
      assertRunning();
      if (URL.parse(uri) === null) {
        throw new Error(`Invalid web redirect URI ${uri}: expected an absolute URL`);
      }
      if (checked.webRedirectUris.includes(uri)) {
        return;
      }
      checked.webRedirectUris.push(uri);
      // Clients are fixed when a provider instance is built, so a new one is built, as at a key rotation.
      activate(signingKeys);
      log(`Identity provider registered web redirect URI ${uri}`);
    },
    async stop() {
      if (stopped) {
        return;
      }
      stopped = true;
      const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      server.closeAllConnections();
      await closed;
      log(`Identity provider stopped: issuer ${issuer}`);
    },
  };
}
