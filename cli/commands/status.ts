import { StatusResponse } from '../../gen/faas/v1/job_service.js';
import type { JobInvocation } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { formatJobDetails, formatJson } from '../output.js';
import type { CommandContext } from './context.js';

/** Prints the job's record. */
export async function runStatus(invocation: JobInvocation, context: CommandContext): Promise<number> {
  const { client, io, signal } = context;
  const job = await client.status(invocation.jobId, { signal });

  const text = invocation.json ? formatJson(StatusResponse.toJSON({ job })) : formatJobDetails(job);
  await writeAll(io.stdout, text, signal);
  return ExitCode.Success;
}
