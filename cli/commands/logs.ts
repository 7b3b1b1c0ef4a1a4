import { LogStream } from '../../gen/faas/v1/job.js';
import type { LogsInvocation } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import type { CommandContext } from './context.js';

export interface CopyLogsOptions {
  follow: boolean;
  /** Called once, before the first chunk is written. */
  beforeFirstChunk?: () => void;
}

/** Writes the job's output as it arrives: standard error chunks to stderr, all others to stdout. */
export async function copyLogs(context: CommandContext, jobId: string, options: CopyLogsOptions): Promise<void> {
  const { client, io, signal } = context;
  let first = true;

  for await (const chunk of client.logs(jobId, { follow: options.follow, signal })) {
    if (first) {
      first = false;
      options.beforeFirstChunk?.();
    }
    const stream = chunk.stream === LogStream.LOG_STREAM_STDERR ? io.stderr : io.stdout;
    await writeAll(stream, chunk.data, signal);
  }
}

/** Prints the job's output so far, or with --follow until the job has ended. */
export async function runLogs(invocation: LogsInvocation, context: CommandContext): Promise<number> {
  await copyLogs(context, invocation.jobId, { follow: invocation.follow });
  return ExitCode.Success;
}
