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
 * in JSON. An admin gets every user's jobs, and the table has an OWNER
 * column when the jobs have more than one owner. When --limit leaves jobs
 * out, the JSON carries `nextPageToken`, and the table is followed by the
 * command that prints the next ones.
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
    // The JSON mapping leaves an empty list out, and scripts read `.jobs`.
    const response = { jobs: [], ...(ListResponse.toJSON({ jobs, nextPageToken }) as object) };
    await writeAll(io.stdout, formatJson(response), signal);
  } else if (jobs.length === 0) {
    const message = invocation.pageToken === undefined ? 'no jobs found' : `no jobs after page token ${invocation.pageToken}`;
    await writeAll(io.stderr, `faas: ${message}\n`, signal);
  } else {
    const owners = new Set(jobs.map((job) => job.owner)).size > 1;
    await writeAll(io.stdout, formatJobTable(jobs, { owners }), signal);
    if (nextPageToken !== '') await writeAll(io.stderr, `faas: more jobs: ${nextCommand(invocation, nextPageToken)}\n`, signal);
  }
  return ExitCode.Success;
}

/** Returns the list command that prints the jobs after `pageToken`, with the same filter, limit and server. */
function nextCommand(invocation: ListInvocation, pageToken: string): string {
  const state = invocation.state === undefined ? '' : ` --state ${stateName(invocation.state)}`;
  const server = invocation.server === undefined ? '' : ` --server ${invocation.server}`;
  return `faas list${state} --limit ${invocation.limit}${server} --page-token ${pageToken}`;
}
