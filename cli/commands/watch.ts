import { WatchResponse } from '../../gen/faas/v1/job_service.js';
import type { JobInvocation } from '../args.js';
import type { Job } from '../../gen/faas/v1/job.js';
import { isFinal } from '../../common/job-states.js';
import { ExitCode, jobExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { describeOutcome, describeProgress, formatJsonLine, formatWatchLine } from '../output.js';
import { ProgressLine } from '../progress.js';
import type { CommandContext } from './context.js';

/**
 * Prints a line per change of the job until it reaches a final state, and
 * returns the job's exit code, as `faas result` would.
 */
export async function runWatch(invocation: JobInvocation, context: CommandContext): Promise<number> {
  const { client, io, signal } = context;
  const progress = new ProgressLine(io.stderr);
  progress.update(`waiting for job ${invocation.jobId}`);
  let last: Job | undefined;

  try {
    for await (const job of client.watch(invocation.jobId, { signal })) {
      last = job;
      const line = invocation.json ? formatJsonLine(WatchResponse.toJSON({ job })) : formatWatchLine(new Date(), job);
      progress.clear();
      await writeAll(io.stdout, line, signal);
      progress.update(describeProgress(job));
    }
  } finally {
    progress.stop();
  }
  if (!last || !isFinal(last.state)) return ExitCode.Success;
  // The last line shows the final state, and the reason follows on stderr, as after submit --wait.
  const outcome = invocation.json ? undefined : describeOutcome(last);
  if (outcome !== undefined) await writeAll(io.stderr, `faas: ${outcome}\n`, signal);
  return jobExitCode(last);
}
