import { JobState } from '../../gen/faas/v1/job.js';
import { CancelResponse } from '../../gen/faas/v1/job_service.js';
import { stateName } from '../../common/job-states.js';
import type { CancelInvocation } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { formatJson } from '../output.js';
import type { CommandContext } from './context.js';

/** Cancels the job and prints whether it is already cancelled or stops soon. */
export async function runCancel(invocation: CancelInvocation, context: CommandContext): Promise<number> {
  const { client, io, signal } = context;
  const job = await client.cancel(invocation.jobId, invocation.reason, { signal });

  let text: string;
  if (invocation.json) {
    text = formatJson(CancelResponse.toJSON({ job }));
  } else if (job.state === JobState.JOB_STATE_CANCELLED) {
    text = `job ${job.id} cancelled\n`;
  } else if (job.cancelRequested) {
    text = `job ${job.id} is stopping; its worker was asked to cancel it\n`;
  } else {
    text = `job ${job.id} is ${stateName(job.state)}\n`;
  }

  await writeAll(io.stdout, text, signal);
  return ExitCode.Success;
}
