import { LogStream } from '../../gen/faas/v1/job.js';
import type { LogsInvocation } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { endOpenLines, writeAll } from '../io.js';
import type { CommandContext } from './context.js';

export interface CopyLogsOptions {
  follow: boolean;
  /** Called once, before the first chunk is written. */
  beforeFirstChunk?: () => void;
}

/** Bytes of the job's standard error that copyLogs keeps to return. */
const stderrTailBytes = 8 * 1024;

/**
 * Writes the job's output as it arrives: standard error chunks to stderr,
 * all others to stdout. Returns the last bytes of standard error written,
 * which hold the worker's own note when the job could not run.
 */
export async function copyLogs(context: CommandContext, jobId: string, options: CopyLogsOptions): Promise<string> {
  const { client, io, signal } = context;
  let first = true;
  let stderrTail = Buffer.alloc(0);

  for await (const chunk of client.logs(jobId, { follow: options.follow, signal })) {
    if (first) {
      first = false;
      options.beforeFirstChunk?.();
    }
    const isStderr = chunk.stream === LogStream.LOG_STREAM_STDERR;
    if (isStderr) stderrTail = Buffer.concat([stderrTail, chunk.data]).subarray(-stderrTailBytes);
    await writeAll(isStderr ? io.stderr : io.stdout, chunk.data, signal);
  }
  return stderrTail.toString();
}

/** Prints the job's output so far, or with --follow until the job has ended. */
export async function runLogs(invocation: LogsInvocation, context: CommandContext): Promise<number> {
  await copyLogs(context, invocation.jobId, { follow: invocation.follow });
  await endOpenLines(context.io, context.signal);
  return ExitCode.Success;
}
