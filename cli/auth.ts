/**
 * Sign-in of the CLI: logging in and out, and the access token that each
 * gateway call sends. Other programs, such as the local stack's start script,
 * can call `loginWithDeviceFlow` and `loginWithClientCredentials` to log the
 * CLI in without running it.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { errorMessage } from '../common/errors.js';
import { identityDefaults, keycloakPaths } from '../common/identity-defaults.js';
import {
  credentialsPath,
  loadCredentials,
  saveCredentials,
  withCredentialsLock,
  deleteCredentials,
  type CredentialsEnv,
  type StoredCredentials,
} from './credentials.js';
import { clientCredentialsLogin, deviceLogin, normalizeIssuer, refresh, revokeToken, type TokenSet } from './oidc.js';

/** Issuer of the local stack's development identity provider. */
export const defaultIssuer = `http://127.0.0.1:50080${keycloakPaths(identityDefaults.realm).issuer}`;

/** A stored access token is renewed when it expires within this many milliseconds. */
export const renewBeforeExpiryMs = 30_000;

/** Failure to get a usable access token. The message ends with what the user should run. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
}

/** Returns the issuer to log in to: `issuer` when given, else FAAS_ISSUER, else the local stack's provider. */
export function resolveIssuer(issuer: string | undefined, env: CredentialsEnv = process.env): string {
  return normalizeIssuer(issuer ?? (env.FAAS_ISSUER || defaultIssuer));
}

export interface DeviceFlowLoginOptions {
  /** Default: FAAS_ISSUER, else `defaultIssuer`. */
  issuer?: string;
  /** Default `faas-cli`. */
  clientId?: string;
  /** Chooses the credentials file through FAAS_CONFIG_DIR, XDG_CONFIG_HOME and HOME. Default process.env. */
  env?: CredentialsEnv;
  /** Shows the verification URI and user code. Default: nothing is shown, which suits an auto-approving provider. */
  onPrompt?: (verificationUri: string, userCode: string, expiresInSeconds: number) => void | Promise<void>;
  signal?: AbortSignal;
}

/**
 * Logs the CLI in with the device authorization grant and saves the tokens
 * in the credentials file. Resolves after the user approved the user code,
 * or rejects when it is denied or expires.
 */
export async function loginWithDeviceFlow(options: DeviceFlowLoginOptions = {}): Promise<StoredCredentials> {
  const env = options.env ?? process.env;
  const issuer = resolveIssuer(options.issuer, env);
  const clientId = options.clientId ?? identityDefaults.cliClientId;

  const tokens = await deviceLogin({
    issuer,
    clientId,
    onPrompt: options.onPrompt ?? (() => {}),
    signal: options.signal,
  });
  const credentials = toStoredCredentials(tokens, { issuer, clientId, grantType: 'device_code' });
  await saveUnderLock(credentials, env, options.signal);
  return credentials;
}

export interface ClientCredentialsLoginOptions {
  /** Default: FAAS_ISSUER, else `defaultIssuer`. */
  issuer?: string;
  clientId: string;
  /** File with the client secret. Surrounding white space is removed. The file path is stored, the secret never. */
  clientSecretFile: string;
  env?: CredentialsEnv;
  signal?: AbortSignal;
}

/**
 * Logs the CLI in with the client credentials grant and saves the access
 * token and the absolute path of the secret file. When the token expires,
 * the CLI reads the secret file again and requests a new token.
 */
export async function loginWithClientCredentials(options: ClientCredentialsLoginOptions): Promise<StoredCredentials> {
  const env = options.env ?? process.env;
  const issuer = resolveIssuer(options.issuer, env);
  const clientSecretFile = resolve(options.clientSecretFile);
  const clientSecret = await readClientSecret(clientSecretFile);

  const tokens = await clientCredentialsLogin({ issuer, clientId: options.clientId, clientSecret, signal: options.signal });
  const credentials = toStoredCredentials(tokens, {
    issuer,
    clientId: options.clientId,
    grantType: 'client_credentials',
    clientSecretFile,
  });
  await saveUnderLock(credentials, env, options.signal);
  return credentials;
}

/** Reads a client secret file and returns its content without surrounding white space. */
export async function readClientSecret(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(error);
    throw new AuthError(`failed to read the client secret file ${path}: ${reason}`);
  }
  const secret = text.trim();
  if (secret === '') throw new AuthError(`the client secret file ${path} is empty`);
  return secret;
}

export interface LogoutResult {
  /** False when there was no credentials file. */
  deleted: boolean;
  /** Reason the revocation of the refresh token failed, when it did. The file is deleted either way. */
  revocationError?: string;
}

/**
 * Deletes the credentials file and then revokes its refresh token at the
 * provider, when the provider has a revocation endpoint. A failed revocation
 * is returned, not thrown.
 */
export async function logout(env: CredentialsEnv = process.env, signal?: AbortSignal): Promise<LogoutResult> {
  const path = credentialsPath(env);
  if (!(await fileExists(path))) return { deleted: false };

  // Under the lock, so a renewal in another faas process cannot write the file back.
  const { credentials, deleted } = await withCredentialsLock(
    async () => {
      // An unreadable file is deleted all the same, and there is then no token to revoke.
      const stored = await loadCredentials(env).catch(() => undefined);
      return { credentials: stored, deleted: await deleteCredentials(env) };
    },
    env,
    signal,
  );

  let revocationError: string | undefined;
  if (credentials?.refreshToken !== undefined) {
    try {
      await revokeToken({
        issuer: credentials.issuer,
        clientId: credentials.clientId,
        token: credentials.refreshToken,
        tokenTypeHint: 'refresh_token',
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      revocationError = errorMessage(error);
    }
  }
  return { deleted, revocationError };
}

/** Origin of the token that gateway calls send. */
export type TokenOrigin = 'FAAS_TOKEN' | 'credentials file' | 'none';

/** Source of access tokens for one CLI run. */
export interface AccessTokenSource {
  origin: TokenOrigin;
  /** Returns the token for the next call, renewing a stored one that expires within 30 s. Undefined for origin "none". */
  token(): Promise<string | undefined>;
}

/**
 * Returns the token source of a CLI run: FAAS_TOKEN when set, else the
 * credentials file, else no token. Renewals are shared, so calls that run
 * at the same time spend a refresh token once.
 */
export async function createAccessTokenSource(env: CredentialsEnv, signal?: AbortSignal): Promise<AccessTokenSource> {
  const fromEnv = env.FAAS_TOKEN;
  if (fromEnv) return { origin: 'FAAS_TOKEN', token: async () => fromEnv };

  let current = await loadCredentials(env);
  if (current === undefined) return { origin: 'none', token: async () => undefined };

  let renewal: Promise<StoredCredentials> | undefined;
  return {
    origin: 'credentials file',
    async token() {
      if (current !== undefined && !expiresSoon(current)) return current.accessToken;

      renewal ??= renewStoredCredentials(env, signal).finally(() => {
        renewal = undefined;
      });
      current = await renewal;
      return current.accessToken;
    },
  };
}

/**
 * Returns a stored access token that is valid for at least 30 more seconds,
 * renewing it when needed, or undefined when there is no credentials file.
 * Ignores FAAS_TOKEN.
 */
export async function storedAccessToken(env: CredentialsEnv = process.env, signal?: AbortSignal): Promise<string | undefined> {
  const source = await createAccessTokenSource({ ...env, FAAS_TOKEN: undefined }, signal);
  return source.token();
}

/**
 * Renews the stored access token under the credentials lock. The file is read
 * again inside the lock, so when another faas process has renewed it first,
 * its newer tokens are used and the spent refresh token is not sent again.
 */
async function renewStoredCredentials(env: CredentialsEnv, signal?: AbortSignal): Promise<StoredCredentials> {
  return withCredentialsLock(
    async () => {
      const stored = await loadCredentials(env);
      if (stored === undefined) {
        throw new AuthError(`not logged in: ${credentialsPath(env)} was deleted. Run "faas login"`);
      }
      if (!expiresSoon(stored)) return stored;

      const tokens = await requestNewTokens(stored, signal);
      const renewed: StoredCredentials = {
        ...stored,
        accessToken: tokens.accessToken,
        accessTokenExpiresAt: tokens.expiresAt.toISOString(),
        refreshToken: tokens.refreshToken ?? stored.refreshToken,
      };
      await saveCredentials(renewed, env);
      return renewed;
    },
    env,
    signal,
  );
}

async function requestNewTokens(stored: StoredCredentials, signal?: AbortSignal): Promise<TokenSet> {
  const loginAgain = stored.grantType === 'client_credentials'
    ? `Run "faas login --client-id ${stored.clientId} --client-secret-file ${stored.clientSecretFile ?? 'FILE'}"`
    : 'Run "faas login"';

  try {
    if (stored.grantType === 'client_credentials') {
      const clientSecret = await readClientSecret(stored.clientSecretFile ?? '');
      return await clientCredentialsLogin({ issuer: stored.issuer, clientId: stored.clientId, clientSecret, signal });
    }
    if (stored.refreshToken === undefined) {
      throw new AuthError('the access token has expired and there is no refresh token');
    }
    return await refresh({ issuer: stored.issuer, clientId: stored.clientId, refreshToken: stored.refreshToken, signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new AuthError(`failed to renew the access token from ${stored.issuer}: ${errorMessage(error)}. ${loginAgain}`, {
      cause: error,
    });
  }
}

/** Saves new login credentials under the lock, so a renewal in another faas process cannot overwrite them with older ones. */
async function saveUnderLock(credentials: StoredCredentials, env: CredentialsEnv, signal?: AbortSignal): Promise<void> {
  await withCredentialsLock(() => saveCredentials(credentials, env), env, signal);
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

function expiresSoon(credentials: StoredCredentials): boolean {
  return Date.parse(credentials.accessTokenExpiresAt) - Date.now() < renewBeforeExpiryMs;
}

function toStoredCredentials(
  tokens: TokenSet,
  fields: Pick<StoredCredentials, 'issuer' | 'clientId' | 'grantType' | 'clientSecretFile'>,
): StoredCredentials {
  const credentials: StoredCredentials = {
    version: 1,
    issuer: fields.issuer,
    clientId: fields.clientId,
    grantType: fields.grantType,
    accessToken: tokens.accessToken,
    accessTokenExpiresAt: tokens.expiresAt.toISOString(),
  };
  if (tokens.refreshToken !== undefined) credentials.refreshToken = tokens.refreshToken;
  if (fields.clientSecretFile !== undefined) credentials.clientSecretFile = fields.clientSecretFile;
  return credentials;
}
