import { decodeJwt, type JWTPayload } from 'jose';
import type { WhoamiInvocation } from '../args.js';
import { AuthError, createAccessTokenSource } from '../auth.js';
import { credentialsPath } from '../credentials.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { formatJson, formatTime } from '../output.js';
import type { AccountCommandContext } from './context.js';
import { errorMessage } from '../../common/errors.js';

/** Claims of the current access token that `faas whoami` prints. */
export interface WhoamiReport {
  /** `preferred_username` */
  user: string | null;
  /** `sub` */
  subject: string | null;
  /** `realm_access.roles` */
  roles: string[];
  /** `azp`, the client the token was issued to */
  client: string | null;
  /** `iss` */
  issuer: string | null;
  /** `exp` as an ISO 8601 time */
  expiresAt: string | null;
  /** "FAAS_TOKEN" or "credentials file" */
  source: string;
  /** Path of the credentials file when the token comes from it */
  credentialsFile: string | null;
}

/**
 * Prints who the current access token belongs to. The claims are decoded
 * without verifying the signature, so they show what the token claims, not
 * that the gateway will accept it. A stored token that expires within 30 s
 * is renewed first, as before any gateway call.
 */
export async function runWhoami(invocation: WhoamiInvocation, context: AccountCommandContext): Promise<number> {
  const { io, signal } = context;
  const { source, token } = await currentToken(context);
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch (error) {
    const reason = errorMessage(error);
    const where = source.origin === 'FAAS_TOKEN' ? 'in FAAS_TOKEN' : `stored in ${credentialsPath(io.env)}`;
    throw new AuthError(`the access token ${where} is not a JWT, so it has no claims to show (${reason})`);
  }

  const report: WhoamiReport = {
    user: stringClaim(claims.preferred_username),
    subject: stringClaim(claims.sub),
    roles: realmRoles(claims),
    client: stringClaim(claims.azp),
    issuer: stringClaim(claims.iss),
    expiresAt: claims.exp === undefined ? null : formatTime(new Date(claims.exp * 1000)),
    source: source.origin,
    credentialsFile: source.origin === 'credentials file' ? credentialsPath(io.env) : null,
  };

  await writeAll(io.stdout, invocation.json ? formatJson(report) : formatReport(report, claims.exp), signal);
  return ExitCode.Success;
}

function formatReport(report: WhoamiReport, exp: number | undefined): string {
  const rows: [string, string][] = [
    ['user', report.user ?? '-'],
    ['subject', report.subject ?? '-'],
    ['roles', report.roles.length === 0 ? '-' : report.roles.join(', ')],
    ['client', report.client ?? '-'],
    ['issuer', report.issuer ?? '-'],
    ['expires', report.expiresAt === null || exp === undefined ? '-' : `${report.expiresAt} (${describeRemaining(exp)})`],
    ['source', report.credentialsFile === null ? report.source : `${report.source} ${report.credentialsFile}`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length)) + 1;
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}\n`).join('');
}

/** Describes the time until `exp` (seconds since the epoch), such as "in 4 min 59 s" or "expired 2 min 3 s ago". */
function describeRemaining(exp: number): string {
  const seconds = Math.round(exp - Date.now() / 1000);
  const span = formatSpan(Math.abs(seconds));
  return seconds >= 0 ? `in ${span}` : `expired ${span} ago`;
}

function formatSpan(totalSeconds: number): string {
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return `${hours} h ${minutes} min`;
  if (minutes > 0) return `${minutes} min ${seconds} s`;
  return `${seconds} s`;
}

function stringClaim(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** Returns Keycloak's realm roles, `realm_access.roles`, or an empty list. */
function realmRoles(claims: JWTPayload): string[] {
  const realmAccess = claims.realm_access;
  if (typeof realmAccess !== 'object' || realmAccess === null) return [];
  const roles = (realmAccess as { roles?: unknown }).roles;
  return Array.isArray(roles) ? roles.filter((role): role is string => typeof role === 'string') : [];
}

/** Prints the access token that job commands would send, renewed first like theirs, for other clients to use. */
export async function runToken(context: AccountCommandContext): Promise<number> {
  const { token } = await currentToken(context);
  await writeAll(context.io.stdout, `${token}\n`, context.signal);
  return ExitCode.Success;
}

/** Returns the token that job commands would send; throws when there is none. */
async function currentToken(context: AccountCommandContext) {
  const source = await createAccessTokenSource(context.io.env, context.signal);
  if (source.origin === 'none') {
    throw new AuthError(`not logged in: FAAS_TOKEN is not set and there is no ${credentialsPath(context.io.env)}. Run "faas login"`);
  }
  return { source, token: (await source.token()) ?? '' };
}
