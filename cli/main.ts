import { status as GrpcStatus } from '@grpc/grpc-js';
import { defaultAddress, FaasClient } from '../client/client.js';
import { FaasClientError } from '../client/errors.js';
import { ConfigError, readAddress } from '../common/config.js';
import { parseCommandLine, UsageError, type Invocation } from './args.js';
import { runCancel } from './commands/cancel.js';
import type { CommandContext } from './commands/context.js';
import { runList } from './commands/list.js';
import { runLogs } from './commands/logs.js';
import { runResult } from './commands/result.js';
import { runStatus } from './commands/status.js';
import { runSubmit } from './commands/submit.js';
import { runWatch } from './commands/watch.js';
import { ExitCode } from './exit-codes.js';
import { helpText } from './help.js';
import { InterruptedError, processIo, writeAll, type CliIo } from './io.js';

/**
 * Runs the `faas` command with `argv` (the arguments after the program name)
 * and returns the exit code; it never calls process.exit. Errors are written
 * to `io.stderr` as one line starting with "faas:".
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let invocation: Invocation;
  let address: string;
  try {
    invocation = parseCommandLine(argv);
    if (invocation.name === 'help') {
      await writeAll(io.stdout, helpText(invocation.topic));
      return ExitCode.Success;
    }
    address = invocation.server ?? readAddress(io.env, 'FAAS_SERVER', defaultAddress);
  } catch (error) {
    return reportStartError(io, error);
  }

  const signal = io.signal ?? new AbortController().signal;
  const client = new FaasClient({ address, token: io.env.FAAS_TOKEN || undefined });
  try {
    return await runCommand(invocation, { client, io, signal });
  } catch (error) {
    return reportCommandError(io, error, signal, address);
  } finally {
    client.close();
  }
}

function runCommand(invocation: Exclude<Invocation, { name: 'help' }>, context: CommandContext): Promise<number> {
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

function reportCommandError(io: CliIo, error: unknown, signal: AbortSignal, address: string): number {
  if (signal.aborted) {
    if (signal.reason instanceof InterruptedError) return ExitCode.Interrupted;
    io.stderr.write(`faas: stopped: ${describeReason(signal.reason)}\n`);
    return ExitCode.Failure;
  }
  if (error instanceof UsageError) return reportUsageError(io, error);

  if (error instanceof FaasClientError) {
    // grpc-js reports a gateway that it cannot reach, or that does not
    // respond in time, with these codes, and its messages do not name the address.
    const unreachable = error.code === GrpcStatus.UNAVAILABLE || error.code === GrpcStatus.DEADLINE_EXCEEDED;
    const where = unreachable ? ` (gateway ${address}; set --server or FAAS_SERVER to use another)` : '';
    io.stderr.write(`faas: ${error.codeName}: ${error.message}${where}\n`);
    return ExitCode.Failure;
  }

  io.stderr.write(`faas: ${describeReason(error)}\n`);
  return ExitCode.Failure;
}

function describeReason(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
