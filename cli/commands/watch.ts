import { WatchResponse } from '../../gen/faas/v1/job_service.js';
import type { JobInvocation } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { describeProgress, formatJsonLine, formatWatchLine } from '../output.js';
import { ProgressLine } from '../progress.js';
import type { CommandContext } from './context.js';

/** Prints a line per change of the job until it reaches a final state. */
export async function runWatch(invocation: JobInvocation, context: CommandContext): Promise<number> {
  const { client, io, signal } = context;
  const progress = new ProgressLine(io.stderr);
  progress.update(`waiting for job ${invocation.jobId}`);

  try {
    for await (const job of client.watch(invocation.jobId, { signal })) {
      const line = invocation.json ? formatJsonLine(WatchResponse.toJSON({ job })) : formatWatchLine(new Date(), job);
      progress.clear();
      await writeAll(io.stdout, line, signal);
      progress.update(describeProgress(job));
    }
  } finally {
    progress.stop();
  }
  return ExitCode.Success;
}
