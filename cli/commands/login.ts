import { decodeJwt } from 'jose';
import type { LoginInvocation } from '../args.js';
import { loginWithClientCredentials, loginWithDeviceFlow } from '../auth.js';
import { credentialsPath, type StoredCredentials } from '../credentials.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { DiscoveryError, OidcError } from '../oidc.js';
import type { AccountCommandContext } from './context.js';
import { errorMessage } from '../../common/errors.js';

/**
 * Logs in with the device authorization grant, or with the client credentials
 * grant when --client-secret-file is given, and saves the tokens. Messages go
 * to stderr, so a script can run this command with stdout captured.
 */
export async function runLogin(invocation: LoginInvocation, context: AccountCommandContext): Promise<number> {
  const { io, signal } = context;
  const env = io.env;

  let credentials: StoredCredentials;
  try {
    // The parser rejects --client-secret-file without --client-id.
    if (invocation.clientSecretFile !== undefined && invocation.clientId !== undefined) {
      credentials = await loginWithClientCredentials({
        issuer: invocation.issuer,
        clientId: invocation.clientId,
        clientSecretFile: invocation.clientSecretFile,
        env,
        signal,
      });
    } else {
      credentials = await loginWithDeviceFlow({
        issuer: invocation.issuer,
        clientId: invocation.clientId,
        env,
        signal,
        onPrompt: (verificationUri, userCode, expiresInSeconds) =>
          writeAll(io.stderr, formatPrompt(verificationUri, userCode, expiresInSeconds), signal),
      });
    }
  } catch (error) {
    if (signal.aborted) throw error;
    await writeAll(io.stderr, `faas: login failed: ${describeLoginError(error, invocation)}\n`);
    return ExitCode.Failure;
  }

  const account = describeAccount(credentials.accessToken);
  await writeAll(
    io.stderr,
    `Logged in to ${credentials.issuer} as ${account} (client ${credentials.clientId}). ` +
      `Saved the credentials to ${credentialsPath(env)}.\n`,
  );
  if (env.FAAS_TOKEN) {
    await writeAll(io.stderr, 'faas: FAAS_TOKEN is set and overrides these credentials until you unset it.\n');
  }
  return ExitCode.Success;
}

function formatPrompt(verificationUri: string, userCode: string, expiresInSeconds: number): string {
  const minutes = Math.max(1, Math.round(expiresInSeconds / 60));
  return `To log in, open this URL in a browser and approve the request:

  ${verificationUri}

The page shows or asks for the code ${userCode}.
Waiting for approval; the code expires in ${minutes} min. Press Ctrl-C to stop.
`;
}

/** Names the account of an access token: `preferred_username`, else `sub`, else "an unnamed account". */
function describeAccount(accessToken: string): string {
  try {
    const claims = decodeJwt(accessToken);
    const name = claims.preferred_username;
    if (typeof name === 'string' && name !== '') return name;
    if (claims.sub !== undefined) return claims.sub;
  } catch {
    // An opaque access token has no claims to show.
  }
  return 'an unnamed account';
}

function describeLoginError(error: unknown, invocation: LoginInvocation): string {
  const message = errorMessage(error);
  if (error instanceof OidcError && error.error === 'invalid_client' && invocation.clientSecretFile !== undefined) {
    return `${message}. Check the client id and the secret in ${invocation.clientSecretFile}`;
  }
  if (error instanceof OidcError && error.error === 'invalid_client' && invocation.clientId !== undefined) {
    // The device flow is for public clients, and a service account has a secret.
    return `${message}. The issuer does not let client ${invocation.clientId} log in without a secret; for a service account, add --client-secret-file FILE`;
  }
  if (error instanceof DiscoveryError) {
    return `${message}. Check that the identity provider is running, or set --issuer or FAAS_ISSUER`;
  }
  return message;
}
