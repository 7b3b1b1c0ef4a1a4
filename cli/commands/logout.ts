import type { LogoutInvocation } from '../args.js';
import { logout } from '../auth.js';
import { credentialsPath } from '../credentials.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import type { AccountCommandContext } from './context.js';

/**
 * Deletes the credentials file and revokes its refresh token. A failed
 * revocation prints a warning but does not fail the command, because the file
 * is gone either way.
 */
export async function runLogout(_invocation: LogoutInvocation, context: AccountCommandContext): Promise<number> {
  const { io, signal } = context;
  const path = credentialsPath(io.env);
  const result = await logout(io.env, signal);

  const lines: string[] = [];
  if (result.revocationError !== undefined) {
    lines.push(
      `faas: warning: failed to revoke the refresh token (${result.revocationError}). ` +
        'It stays valid at the identity provider until it expires',
    );
  }
  lines.push(result.deleted ? `Logged out: deleted ${path}` : `Not logged in: there is no ${path}`);
  if (io.env.FAAS_TOKEN) lines.push('faas: FAAS_TOKEN is still set, and commands keep sending it until you unset it');

  await writeAll(io.stderr, lines.map((line) => `${line}\n`).join(''));
  return ExitCode.Success;
}
