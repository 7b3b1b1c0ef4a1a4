import { createRequire } from 'node:module';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { defaultAddress, FaasClient } from '../client/client.js';
import { FaasClientError } from '../client/errors.js';
import { ConfigError, readAddress } from '../common/config.js';
import { parseCommandLine, UsageError, type AccountInvocation, type Invocation } from './args.js';
import { createAccessTokenSource, type TokenOrigin } from './auth.js';
import { runCancel } from './commands/cancel.js';
import type { AccountCommandContext, CommandContext } from './commands/context.js';
import { runList } from './commands/list.js';
import { runLogin } from './commands/login.js';
import { runLogout } from './commands/logout.js';
import { runLogs } from './commands/logs.js';
import { runResult } from './commands/result.js';
import { runStatus } from './commands/status.js';
import { runSubmit } from './commands/submit.js';
import { runWatch } from './commands/watch.js';
import { runToken, runWhoami } from './commands/whoami.js';
import { runScale } from './commands/scale.js';
import { ExitCode } from './exit-codes.js';
import { withOptionName } from './field-options.js';
import { describeSystemError } from './system-errors.js';
import { helpText } from './help.js';
import { InterruptedError, processIo, writeAll, type CliIo } from './io.js';

/**
 * Runs the `faas` command with `argv` (the arguments after the program name)
 * and returns the exit code; it never calls process.exit. Errors are written
 * to `io.stderr` as one line starting with "faas:".
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseCommandLine(argv);
    if (invocation.name === 'help') {
      if (invocation.missingCommand) {
        await writeAll(io.stderr, `faas: missing command\n\n${helpText()}`);
        return ExitCode.Usage;
      }
      await writeAll(io.stdout, helpText(invocation.topic));
      return ExitCode.Success;
    }
    if (invocation.name === 'version') {
      await writeAll(io.stdout, `faas ${cliVersion()}\n`);
      return ExitCode.Success;
    }
  } catch (error) {
    return reportStartError(io, error);
  }

  const signal = io.signal ?? new AbortController().signal;
  if (isAccountInvocation(invocation)) {
    try {
      return await runAccountCommand(invocation, { io, signal });
    } catch (error) {
      return reportCommandError(io, error, signal);
    }
  }

  let address: string;
  try {
    address = invocation.server ?? readAddress(io.env, 'FAAS_SERVER', defaultAddress);
  } catch (error) {
    return reportStartError(io, error);
  }

  let tokenOrigin: TokenOrigin | undefined;
  let client: FaasClient | undefined;
  try {
    // The token source renews a stored token before any call that would send it expiring.
    const tokens = await createAccessTokenSource(io.env, signal);
    tokenOrigin = tokens.origin;
    // Following commands (watch, logs --follow, submit --wait) ride out a gateway restart of about 20 s.
    client = new FaasClient({ address, token: () => tokens.token(), streamRetries: 10 });
    return await runCommand(invocation, { client, io, signal });
  } catch (error) {
    return reportCommandError(io, error, signal, { address, tokenOrigin });
  } finally {
    client?.close();
  }
}

type GatewayInvocation = Exclude<Invocation, { name: 'help' | 'version' } | AccountInvocation>;

/** Returns the version in the project's package.json. */
function cliVersion(): string {
  const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
  return version;
}

function isAccountInvocation(invocation: Exclude<Invocation, { name: 'help' | 'version' }>): invocation is AccountInvocation {
  return invocation.name === 'login' || invocation.name === 'logout' || invocation.name === 'whoami' || invocation.name === 'token';
}

function runAccountCommand(invocation: AccountInvocation, context: AccountCommandContext): Promise<number> {
  switch (invocation.name) {
    case 'login':
      return runLogin(invocation, context);
    case 'logout':
      return runLogout(invocation, context);
    case 'whoami':
      return runWhoami(invocation, context);
    case 'token':
      return runToken(context);
  }
}

function runCommand(invocation: GatewayInvocation, context: CommandContext): Promise<number> {
  switch (invocation.name) {
    case 'submit':
      return runSubmit(invocation, context);
    case 'status':
      return runStatus(invocation, context);
    case 'result':
      return runResult(invocation, context);
    case 'logs':
      return runLogs(invocation, context);
    case 'list':
      return runList(invocation, context);
    case 'watch':
      return runWatch(invocation, context);
    case 'cancel':
      return runCancel(invocation, context);
    case 'scale':
      return runScale(invocation, context);
  }
}

function reportStartError(io: CliIo, error: unknown): number {
  if (error instanceof UsageError) return reportUsageError(io, error);
  if (error instanceof ConfigError) {
    io.stderr.write(`faas: ${error.message}\n`);
    return ExitCode.Usage;
  }
  throw error;
}

function reportUsageError(io: CliIo, error: UsageError): number {
  const helpCommand = error.command === undefined ? 'faas help' : `faas help ${error.command}`;
  io.stderr.write(`faas: ${error.message}\nRun "${helpCommand}" for usage.\n`);
  return ExitCode.Usage;
}

/** Gateway call details that make an error message actionable. */
interface GatewayDetails {
  address: string;
  /** Origin of the sent token, or unset when the failure came before the token source was read. */
  tokenOrigin: TokenOrigin | undefined;
}

function reportCommandError(io: CliIo, error: unknown, signal: AbortSignal, gateway?: GatewayDetails): number {
  if (signal.aborted) {
    if (signal.reason instanceof InterruptedError) return ExitCode.Interrupted;
    io.stderr.write(`faas: stopped: ${describeReason(signal.reason)}\n`);
    return ExitCode.Failure;
  }
  if (error instanceof UsageError) return reportUsageError(io, error);

  if (error instanceof FaasClientError && gateway !== undefined) {
    const unreachable = error.code === GrpcStatus.UNAVAILABLE ? connectionFailure(error.message) : undefined;
    if (unreachable !== undefined) {
      io.stderr.write(`faas: ${error.codeName}: cannot reach the gateway at ${gateway.address} (${unreachable}); start it, or set --server or FAAS_SERVER to use another\n`);
      return ExitCode.Failure;
    }
    const invalidArgument = error.code === GrpcStatus.INVALID_ARGUMENT;
    const message = invalidArgument ? withOptionName(error.message) : error.message;
    io.stderr.write(`faas: ${error.codeName}: ${message}${gatewayHint(error, gateway)}\n`);
    // A value the gateway rejects is a usage error, as the ones the CLI finds itself.
    return invalidArgument ? ExitCode.Usage : ExitCode.Failure;
  }

  io.stderr.write(`faas: ${describeReason(error)}\n`);
  return ExitCode.Failure;
}

/** Returns a hint to append to a gateway error: where the gateway is, or how to get a valid token. */
function gatewayHint(error: FaasClientError, gateway: GatewayDetails): string {
  // A gateway that returns UNAVAILABLE is reachable and a service behind it is not, so another gateway would not help.
  if (error.code === GrpcStatus.UNAVAILABLE) {
    // The platform's own UNAVAILABLE messages already ask for a retry.
    const retry = /\bretry\b/.test(error.message) ? '' : '; try again shortly';
    return ` (answered by the gateway at ${gateway.address}${retry})`;
  }
  // grpc-js reports a gateway that does not respond in time with this code, and its message does not name the address.
  if (error.code === GrpcStatus.DEADLINE_EXCEEDED) return ` (gateway ${gateway.address}; set --server or FAAS_SERVER to use another)`;
  if (error.code !== GrpcStatus.UNAUTHENTICATED) return '';

  if (gateway.tokenOrigin === 'FAAS_TOKEN') {
    return ' (the token came from FAAS_TOKEN; set a valid one, or unset it and run "faas login")';
  }
  // The gateway's own message may already contain the faas login hint.
  return error.message.includes('faas login') ? '' : ' (run "faas login")';
}

/**
 * Returns why grpc-js could not connect, in plain words, when its message
 * names a system error. grpc-js wraps that error in text for its own developers.
 */
function connectionFailure(message: string): string | undefined {
  return describeSystemError(/\b(E[A-Z_]{4,})\b/.exec(message)?.[1]);
}

function describeReason(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
