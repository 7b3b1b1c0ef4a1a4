import type { Job } from '../../gen/faas/v1/job.js';
import { ListResponse } from '../../gen/faas/v1/job_service.js';
import type { ListInvocation } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { formatJobTable, formatJson } from '../output.js';
import type { CommandContext } from './context.js';

/** Prints the caller's jobs, newest first, as a table or as one ListResponse in JSON. */
export async function runList(invocation: ListInvocation, context: CommandContext): Promise<number> {
  const { client, io, signal } = context;
  const jobs: Job[] = [];
  for await (const job of client.listAll({ state: invocation.state, limit: invocation.limit, signal })) {
    jobs.push(job);
  }

  if (invocation.json) {
    await writeAll(io.stdout, formatJson(ListResponse.toJSON({ jobs, nextPageToken: '' })), signal);
  } else if (jobs.length === 0) {
    await writeAll(io.stderr, 'faas: no jobs found\n', signal);
  } else {
    await writeAll(io.stdout, formatJobTable(jobs), signal);
  }
  return ExitCode.Success;
}
