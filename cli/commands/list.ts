import type { Job } from '../../gen/faas/v1/job.js';
import { stateName } from '../../common/job-states.js';
import { ListResponse } from '../../gen/faas/v1/job_service.js';
import type { ListInvocation } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { formatJobTable, formatJson } from '../output.js';
import type { CommandContext } from './context.js';

/**
 * Prints the caller's jobs, newest first, as a table or as one ListResponse
 * in JSON. When --limit leaves jobs out, the JSON carries `nextPageToken`,
 * and the table is followed by the command that prints the next ones.
 */
export async function runList(invocation: ListInvocation, context: CommandContext): Promise<number> {
  const { client, io, signal } = context;
  const jobs: Job[] = [];
  let nextPageToken = '';
  for await (const page of client.listPages({ state: invocation.state, limit: invocation.limit, pageToken: invocation.pageToken, signal })) {
    jobs.push(...page.jobs);
    nextPageToken = page.nextPageToken;
  }

  if (invocation.json) {
    await writeAll(io.stdout, formatJson(ListResponse.toJSON({ jobs, nextPageToken })), signal);
  } else if (jobs.length === 0) {
    await writeAll(io.stderr, 'faas: no jobs found\n', signal);
  } else {
    await writeAll(io.stdout, formatJobTable(jobs), signal);
    if (nextPageToken !== '') await writeAll(io.stderr, `faas: more jobs: ${nextCommand(invocation, nextPageToken)}\n`, signal);
  }
  return ExitCode.Success;
}

/** Returns the list command that prints the jobs after `pageToken`, with the same filter and limit. */
function nextCommand(invocation: ListInvocation, pageToken: string): string {
  const state = invocation.state === undefined ? '' : ` --state ${stateName(invocation.state)}`;
  return `faas list${state} --limit ${invocation.limit} --page-token ${pageToken}`;
}
