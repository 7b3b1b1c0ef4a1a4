/**
 * OAuth 2.0 and OpenID Connect requests of the CLI: discovery, the device
 * authorization grant (RFC 8628), the client credentials and refresh token
 * grants (RFC 6749) and token revocation (RFC 7009).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';

/** Fields of an OpenID Provider's discovery document that the CLI uses. */
export interface ProviderMetadata {
  issuer: string;
  token_endpoint: string;
  device_authorization_endpoint?: string;
  revocation_endpoint?: string;
}

/** Tokens from a successful token request. */
export interface TokenSet {
  accessToken: string;
  /** Expiry of the access token, from `expires_in`, else from the token's `exp` claim. */
  expiresAt: Date;
  refreshToken?: string;
  idToken?: string;
  scope?: string;
}

/**
 * Failure of a request to the provider. `error` is the OAuth error code, such
 * as `invalid_grant`, when the provider sent one.
 */
export class OidcError extends Error {
  override readonly name: string = 'OidcError';

  constructor(
    message: string,
    readonly error?: string,
    readonly errorDescription?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Failure to fetch or accept the provider's discovery document, often a wrong issuer URL or a provider that is down. */
export class DiscoveryError extends OidcError {
  override readonly name: string = 'DiscoveryError';
}

export const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code';

/** Limit of each HTTP request to the provider. */
const requestTimeoutMs = 15_000;
/** Polling interval when the provider sends none, as RFC 8628 section 3.2 sets. */
const defaultPollIntervalSeconds = 5;
/** Seconds that RFC 8628 section 3.5 adds to the interval after each `slow_down`. */
const slowDownStepSeconds = 5;
/** Device code lifetime when the provider leaves out the required `expires_in`: Keycloak's default. */
const defaultDeviceCodeLifetimeSeconds = 600;
/** Polls in a row that may fail on the network before the login gives up. */
const maxPollNetworkFailures = 3;

interface RequestOptions {
  signal?: AbortSignal;
}

/**
 * Checks that `issuer` is an http or https URL and returns it without a
 * trailing slash. Plain http is accepted only for loopback hosts, because
 * tokens and secrets would cross the network in clear text.
 */
export function normalizeIssuer(issuer: string): string {
  const url = URL.parse(issuer);
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new OidcError(`invalid issuer ${issuer}: expected an http or https URL`);
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new OidcError(`invalid issuer ${issuer}: use https, because plain http is allowed only on this machine`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new OidcError(`invalid issuer ${issuer}: it must not have a query or fragment`);
  }
  return url.href.replace(/\/+$/, '');
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Fetches `<issuer>/.well-known/openid-configuration` and checks that it
 * names the same issuer and has a token endpoint (OpenID Connect Discovery 1.0,
 * sections 4 and 4.3).
 */
export async function discover(issuer: string, options: RequestOptions = {}): Promise<ProviderMetadata> {
  const normalized = normalizeIssuer(issuer);
  const url = `${normalized}/.well-known/openid-configuration`;
  let response: Response;
  let body: Record<string, unknown>;
  try {
    response = await send(url, { method: 'GET' }, options.signal);
    body = await readJson(response, url);
  } catch (error) {
    if (!(error instanceof OidcError)) throw error;
    throw new DiscoveryError(error.message, undefined, undefined, { cause: error });
  }

  if (!response.ok) {
    throw new DiscoveryError(`discovery at ${url} failed with HTTP ${response.status}`);
  }
  if (typeof body.issuer !== 'string' || body.issuer.replace(/\/+$/, '') !== normalized) {
    throw new DiscoveryError(`discovery at ${url} returned issuer ${String(body.issuer)}, expected ${normalized}`);
  }
  if (typeof body.token_endpoint !== 'string') {
    throw new DiscoveryError(`discovery at ${url} returned no token_endpoint`);
  }

  return {
    issuer: body.issuer,
    token_endpoint: body.token_endpoint,
    device_authorization_endpoint: optionalString(body.device_authorization_endpoint),
    revocation_endpoint: optionalString(body.revocation_endpoint),
  };
}

export interface DeviceLoginOptions extends RequestOptions {
  issuer: string;
  /** Public client with the device grant. */
  clientId: string;
  /** Default `openid offline_access`. */
  scope?: string;
  /**
   * Receives where the user approves the login: `verification_uri_complete`
   * when the provider sends it, else `verification_uri`, and the user code,
   * which the user compares with the page (or types in).
   */
  onPrompt: (verificationUri: string, userCode: string, expiresInSeconds: number) => void | Promise<void>;
}

/**
 * Runs the device authorization grant: requests a device code, shows the
 * user where to approve it through `onPrompt`, then polls the token endpoint
 * at the provider's interval until the user approves or denies, or the device
 * code expires. Honours `slow_down` by adding 5 s to the interval.
 */
export async function deviceLogin(options: DeviceLoginOptions): Promise<TokenSet> {
  const metadata = await discover(options.issuer, options);
  const deviceEndpoint = metadata.device_authorization_endpoint;
  if (deviceEndpoint === undefined) {
    throw new OidcError(`the provider ${metadata.issuer} does not offer the device authorization grant`);
  }

  const response = await postForm(
    deviceEndpoint,
    { client_id: options.clientId, scope: options.scope ?? 'openid offline_access' },
    {},
    options.signal,
  );
  const body = await readJson(response, deviceEndpoint);
  if (!response.ok) throw providerError('device authorization request', response.status, body);
  if (typeof body.device_code !== 'string' || typeof body.user_code !== 'string' || typeof body.verification_uri !== 'string') {
    throw new OidcError(`invalid device authorization response from ${deviceEndpoint}: missing device_code, user_code or verification_uri`);
  }

  const expiresInSeconds = positiveNumber(body.expires_in) ?? defaultDeviceCodeLifetimeSeconds;
  const deadline = Date.now() + expiresInSeconds * 1000;
  // An interval below 1 s is raised to 1 s, so the loop below always waits between polls.
  let intervalSeconds = Math.max(1, positiveNumber(body.interval) ?? defaultPollIntervalSeconds);

  const verificationUri = optionalString(body.verification_uri_complete) ?? body.verification_uri;
  await options.onPrompt(verificationUri, body.user_code, expiresInSeconds);

  const fields = { grant_type: deviceCodeGrantType, device_code: body.device_code, client_id: options.clientId };
  let networkFailures = 0;

  // Each pass waits at least 1 s and the deadline is fixed, so the loop ends.
  for (;;) {
    if (Date.now() + intervalSeconds * 1000 > deadline) {
      throw new OidcError(`the login timed out: user code ${body.user_code} was not approved within ${expiresInSeconds} s`);
    }
    await sleep(intervalSeconds * 1000, undefined, { signal: options.signal });

    let polled: Response;
    try {
      polled = await postForm(metadata.token_endpoint, fields, {}, options.signal);
    } catch (error) {
      networkFailures++;
      if (options.signal?.aborted || networkFailures >= maxPollNetworkFailures) throw error;
      continue;
    }
    networkFailures = 0;

    const tokenBody = await readJson(polled, metadata.token_endpoint);
    if (polled.ok) return parseTokenResponse(tokenBody, metadata.token_endpoint);

    switch (tokenBody.error) {
      case 'authorization_pending':
        continue;
      case 'slow_down':
        intervalSeconds += slowDownStepSeconds;
        continue;
      case 'expired_token':
        throw new OidcError(`the login timed out: user code ${body.user_code} expired before it was approved`, 'expired_token');
      case 'access_denied':
        throw new OidcError(`the login was denied at ${metadata.issuer}`, 'access_denied');
      default:
        throw providerError('device code token request', polled.status, tokenBody);
    }
  }
}

export interface ClientCredentialsOptions extends RequestOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
}

/**
 * Obtains an access token with the client credentials grant, authenticating
 * with HTTP basic authentication (`client_secret_basic`).
 */
export async function clientCredentialsLogin(options: ClientCredentialsOptions): Promise<TokenSet> {
  const metadata = await discover(options.issuer, options);
  const fields: Record<string, string> = { grant_type: 'client_credentials' };
  if (options.scope !== undefined) fields.scope = options.scope;

  const headers = { authorization: basicAuthorization(options.clientId, options.clientSecret) };
  const response = await postForm(metadata.token_endpoint, fields, headers, options.signal);
  const body = await readJson(response, metadata.token_endpoint);
  if (!response.ok) throw providerError(`client credentials request for client ${options.clientId}`, response.status, body);
  return parseTokenResponse(body, metadata.token_endpoint);
}

export interface RefreshOptions extends RequestOptions {
  issuer: string;
  /** Public client that received the refresh token. */
  clientId: string;
  refreshToken: string;
}

/**
 * Exchanges a refresh token for new tokens. The returned set carries the
 * rotated refresh token, or the one sent when the provider returns none.
 */
export async function refresh(options: RefreshOptions): Promise<TokenSet> {
  const metadata = await discover(options.issuer, options);
  const fields = { grant_type: 'refresh_token', refresh_token: options.refreshToken, client_id: options.clientId };
  const response = await postForm(metadata.token_endpoint, fields, {}, options.signal);
  const body = await readJson(response, metadata.token_endpoint);
  if (!response.ok) throw providerError('refresh token request', response.status, body);

  const tokens = parseTokenResponse(body, metadata.token_endpoint);
  return { ...tokens, refreshToken: tokens.refreshToken ?? options.refreshToken };
}

export interface RevokeOptions extends RequestOptions {
  issuer: string;
  clientId: string;
  token: string;
  tokenTypeHint?: 'refresh_token' | 'access_token';
}

/**
 * Revokes a token at the provider's `revocation_endpoint` as a public client.
 * Returns false when discovery lists no revocation endpoint.
 */
export async function revokeToken(options: RevokeOptions): Promise<boolean> {
  const metadata = await discover(options.issuer, options);
  if (metadata.revocation_endpoint === undefined) return false;

  const fields: Record<string, string> = { token: options.token, client_id: options.clientId };
  if (options.tokenTypeHint !== undefined) fields.token_type_hint = options.tokenTypeHint;
  const response = await postForm(metadata.revocation_endpoint, fields, {}, options.signal);
  if (!response.ok) {
    const body = await readJson(response, metadata.revocation_endpoint);
    throw providerError('token revocation', response.status, body);
  }
  await response.body?.cancel();
  return true;
}

/**
 * Returns the value of an `authorization` header for client_secret_basic.
 * RFC 6749 section 2.3.1 form-encodes the id and the secret before joining them.
 */
function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

function parseTokenResponse(body: Record<string, unknown>, endpoint: string): TokenSet {
  if (typeof body.access_token !== 'string' || body.access_token === '') {
    throw new OidcError(`invalid token response from ${endpoint}: missing access_token`);
  }
  return {
    accessToken: body.access_token,
    expiresAt: expiryOf(body.access_token, positiveNumber(body.expires_in)),
    refreshToken: optionalString(body.refresh_token),
    idToken: optionalString(body.id_token),
    scope: optionalString(body.scope),
  };
}

/**
 * Returns when an access token expires: `expires_in` from now, else the JWT
 * `exp` claim. An opaque token without `expires_in` counts as expired at
 * once, so the CLI renews it before its next use.
 */
function expiryOf(accessToken: string, expiresInSeconds: number | undefined): Date {
  if (expiresInSeconds !== undefined) return new Date(Date.now() + expiresInSeconds * 1000);
  try {
    const exp = decodeJwt(accessToken).exp;
    if (exp !== undefined) return new Date(exp * 1000);
  } catch {
    // Not a JWT: fall through.
  }
  return new Date();
}

function providerError(request: string, status: number, body: Record<string, unknown>): OidcError {
  const error = optionalString(body.error);
  const description = optionalString(body.error_description);
  const detail = error === undefined ? `HTTP ${status}` : `${error}${description === undefined ? '' : `: ${description}`}`;
  return new OidcError(`${request} failed (${detail})`, error, description);
}

async function postForm(
  url: string,
  fields: Record<string, string>,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<Response> {
  return send(
    url,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    },
    signal,
  );
}

/** Sends a request with a 15 s limit, reporting network failures and timeouts with the URL. */
async function send(url: string, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
  const timeout = AbortSignal.timeout(requestTimeoutMs);
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  try {
    return await fetch(url, { ...init, headers: { accept: 'application/json', ...init.headers }, signal: combined, redirect: 'error' });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.aborted) {
      throw new OidcError(`request to ${url} timed out after ${requestTimeoutMs / 1000} s`, undefined, undefined, { cause: error });
    }
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new OidcError(`request to ${url} failed${cause}`, undefined, undefined, { cause: error });
  }
}

/** Reads a JSON object body. A body that is not a JSON object becomes an OidcError with the HTTP status. */
async function readJson(response: Response, url: string): Promise<Record<string, unknown>> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new OidcError(`${url} returned HTTP ${response.status} without a JSON body`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OidcError(`${url} returned HTTP ${response.status} with JSON that is not an object`);
  }
  return body as Record<string, unknown>;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function positiveNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}
