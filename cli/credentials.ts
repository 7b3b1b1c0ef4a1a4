import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../common/errors.js';

/** Environment variables that choose the credentials folder. */
export type CredentialsEnv = Record<string, string | undefined>;

/**
 * Tokens of `faas login`, as stored in credentials.json. The file never
 * contains a client secret: for the client credentials grant it stores the
 * path of the secret file, which the CLI reads again to get a new token.
 */
export interface StoredCredentials {
  /** Format version of the file. */
  version: 1;
  /** OpenID Provider issuer URL, without a trailing slash. */
  issuer: string;
  clientId: string;
  /** Grant that obtained the tokens, which decides how the CLI renews them. */
  grantType: 'device_code' | 'client_credentials';
  accessToken: string;
  /** Expiry of the access token as an ISO 8601 time. */
  accessTokenExpiresAt: string;
  /** Newest refresh token. The provider rotates it on every use, so an older one is worthless. */
  refreshToken?: string;
  /** Absolute path of the client secret file, for the client credentials grant. */
  clientSecretFile?: string;
}

/** Error in reading, writing or locking the credentials file. The message names the file and the fix. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

const fileName = 'credentials.json';
const lockFileName = 'credentials.json.lock';

/** Maximum wait for another faas process to release the lock. */
const lockTimeoutMs = 30_000;
/** A lock file older than this is left over from a process that crashed, because no holder keeps it longer. */
const staleLockMs = 60_000;
const lockRetryMs = 100;

/**
 * Returns the folder of the credentials file: FAAS_CONFIG_DIR, else
 * `$XDG_CONFIG_HOME/faas`, else `$HOME/.config/faas`.
 */
export function credentialsDir(env: CredentialsEnv = process.env): string {
  if (env.FAAS_CONFIG_DIR) return env.FAAS_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'faas');
  return join(env.HOME || homedir(), '.config', 'faas');
}

export function credentialsPath(env: CredentialsEnv = process.env): string {
  return join(credentialsDir(env), fileName);
}

/** Reads the credentials file. Returns undefined when it does not exist, and throws CredentialsError when it is invalid. */
export async function loadCredentials(env: CredentialsEnv = process.env): Promise<StoredCredentials | undefined> {
  const path = credentialsPath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return undefined;
    throw new CredentialsError(`failed to read ${path}: ${errorMessage(error)}`);
  }

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalidFile(path, `it is not JSON (${errorMessage(error)})`);
  }
  return parseCredentials(value, path);
}

/**
 * Writes the credentials file atomically: the content goes to a temporary
 * file with mode 0600 in the same folder, which is then renamed over the old
 * file, so a reader never sees a partial file. Creates the folder with mode
 * 0700 when it is missing. Returns the path of the file.
 */
export async function saveCredentials(credentials: StoredCredentials, env: CredentialsEnv = process.env): Promise<string> {
  const dir = credentialsDir(env);
  const path = join(dir, fileName);
  const temporaryPath = join(dir, `.${fileName}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = await open(temporaryPath, 'wx', 0o600);
    try {
      await file.writeFile(`${JSON.stringify(credentials, null, 2)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporaryPath, path);
  } catch (error) {
    await rm(temporaryPath, { force: true });
    throw new CredentialsError(`failed to write ${path}: ${errorMessage(error)}`);
  }
  return path;
}

/** Deletes the credentials file. Returns false when there was none. */
export async function deleteCredentials(env: CredentialsEnv = process.env): Promise<boolean> {
  const path = credentialsPath(env);
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return false;
    throw new CredentialsError(`failed to delete ${path}: ${errorMessage(error)}`);
  }
}

/**
 * Runs `action` while holding credentials.json.lock, so that two faas
 * processes never spend the same refresh token: the provider rotates it on
 * every use and revokes the session when an old one comes back. The lock is
 * a file created with O_EXCL. One older than 60 s is removed as stale.
 */
export async function withCredentialsLock<T>(
  action: () => Promise<T>,
  env: CredentialsEnv = process.env,
  signal?: AbortSignal,
): Promise<T> {
  const dir = credentialsDir(env);
  const lockPath = join(dir, lockFileName);
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw new CredentialsError(`failed to create ${dir}: ${errorMessage(error)}`);
  });

  const deadline = Date.now() + lockTimeoutMs;
  for (;;) {
    try {
      const file = await open(lockPath, 'wx', 0o600);
      await file.writeFile(`${process.pid}\n`);
      await file.close();
      break;
    } catch (error) {
      if (!isErrorCode(error, 'EEXIST')) throw new CredentialsError(`failed to create ${lockPath}: ${errorMessage(error)}`);
    }

    if (await isStaleLock(lockPath)) {
      await rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() + lockRetryMs > deadline) {
      throw new CredentialsError(
        `timed out after ${lockTimeoutMs / 1000} s waiting for ${lockPath}. Delete it if no other faas command is running`,
      );
    }
    await sleep(lockRetryMs, undefined, { signal });
  }

  try {
    return await action();
  } finally {
    await rm(lockPath, { force: true });
  }
}

async function isStaleLock(lockPath: string): Promise<boolean> {
  try {
    const info = await stat(lockPath);
    return Date.now() - info.mtimeMs > staleLockMs;
  } catch (error) {
    // The holder released it between our open and stat, so the next attempt can take it.
    if (isErrorCode(error, 'ENOENT')) return false;
    throw new CredentialsError(`failed to check ${lockPath}: ${errorMessage(error)}`);
  }
}

function parseCredentials(value: unknown, path: string): StoredCredentials {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidFile(path, 'expected a JSON object');
  }
  const record = value as Record<string, unknown>;
  if (record.version !== 1) {
    throw invalidFile(path, `unsupported version ${JSON.stringify(record.version)}, expected 1`);
  }

  const requireString = (name: string): string => {
    const field = record[name];
    if (typeof field !== 'string' || field === '') throw invalidFile(path, `missing ${name}`);
    return field;
  };
  const optionalString = (name: string): string | undefined => {
    const field = record[name];
    if (field === undefined) return undefined;
    if (typeof field !== 'string' || field === '') throw invalidFile(path, `${name} must be a non-empty string`);
    return field;
  };

  const issuer = requireString('issuer');
  const clientId = requireString('clientId');
  const grantType = requireString('grantType');
  if (grantType !== 'device_code' && grantType !== 'client_credentials') {
    throw invalidFile(path, `unknown grantType ${grantType}, expected device_code or client_credentials`);
  }
  const accessToken = requireString('accessToken');
  const accessTokenExpiresAt = requireString('accessTokenExpiresAt');
  if (Number.isNaN(Date.parse(accessTokenExpiresAt))) {
    throw invalidFile(path, `accessTokenExpiresAt ${accessTokenExpiresAt} is not a time`);
  }

  const credentials: StoredCredentials = { version: 1, issuer, clientId, grantType, accessToken, accessTokenExpiresAt };
  const refreshToken = optionalString('refreshToken');
  if (refreshToken !== undefined) credentials.refreshToken = refreshToken;
  const clientSecretFile = optionalString('clientSecretFile');
  if (clientSecretFile !== undefined) credentials.clientSecretFile = clientSecretFile;
  if (grantType === 'client_credentials' && credentials.clientSecretFile === undefined) {
    throw invalidFile(path, 'missing clientSecretFile for the client credentials grant');
  }
  return credentials;
}

function invalidFile(path: string, reason: string): CredentialsError {
  return new CredentialsError(`invalid credentials file ${path}: ${reason}. Run "faas login" to replace it`);
}

function isErrorCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}
