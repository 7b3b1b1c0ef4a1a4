import { SubmitResponse } from '../../gen/faas/v1/job_service.js';
import { JobLimits } from '../../gen/faas/v1/job.js';
import type { SubmitInvocation } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { followJob, waitForJob } from '../follow-job.js';
import { readJobInput } from '../input.js';
import { writeAll } from '../io.js';
import { formatJson } from '../output.js';
import type { CommandContext } from './context.js';
import { fetchResult, printResult } from './result.js';

/**
 * Submits a job and prints its id, or with --wait follows it and returns the
 * job's exit code. With --wait the id goes to stderr, so stdout carries only
 * the job's own standard output.
 */
export async function runSubmit(invocation: SubmitInvocation, context: CommandContext): Promise<number> {
  const { client, io, signal } = context;
  const input = invocation.input === undefined ? undefined : await readJobInput(invocation.input, io.stdin);

  const response = await client.submit(
    {
      repositoryUrl: invocation.repositoryUrl,
      ref: invocation.ref,
      command: invocation.command,
      args: invocation.args,
      env: invocation.env,
      input,
      timeoutSeconds: invocation.timeoutSeconds,
      idempotencyKey: invocation.idempotencyKey,
      network: invocation.network,
      limits: Object.keys(invocation.limits).length === 0 ? undefined : JobLimits.fromPartial(invocation.limits),
      retry: invocation.retry,
    },
    { signal },
  );
  const job = response.job;
  if (job === undefined) throw new Error('the gateway returned a Submit response without a job');

  if (response.existing) {
    await writeAll(io.stderr, `faas: job ${job.id} was submitted earlier with the same idempotency key\n`, signal);
  }

  if (!invocation.wait) {
    const text = invocation.json ? formatJson(SubmitResponse.toJSON(response)) : `${job.id}\n`;
    await writeAll(io.stdout, text, signal);
    return ExitCode.Success;
  }

  if (!response.existing) await writeAll(io.stderr, `faas: job ${job.id} submitted\n`, signal);
  if (!invocation.json) return followJob(context, job);

  await waitForJob(context, job);
  return printResult(context, await fetchResult(context, job.id), true);
}
