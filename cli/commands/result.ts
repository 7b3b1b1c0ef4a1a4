import { status as GrpcStatus } from '@grpc/grpc-js';
import { FaasClientError } from '../../client/errors.js';
import { isFinal } from '../../common/job-states.js';
import { ResultResponse } from '../../gen/faas/v1/job_service.js';
import type { JobInvocation } from '../args.js';
import { jobExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { describeOutcome, formatJson } from '../output.js';
import type { CommandContext } from './context.js';

/**
 * Returns the job's result. A job cancelled before it ran has none, and the
 * gateway returns FAILED_PRECONDITION for it, so the response then contains
 * only the job.
 */
export async function fetchResult(context: CommandContext, jobId: string): Promise<ResultResponse> {
  const { client, signal } = context;
  try {
    return await client.result(jobId, { signal });
  } catch (error) {
    if (!(error instanceof FaasClientError) || error.code !== GrpcStatus.FAILED_PRECONDITION) throw error;

    const job = await client.status(jobId, { signal });
    if (!isFinal(job.state)) throw error;
    return { job, result: undefined };
  }
}

/**
 * Prints a result: as JSON, or the job's standard output to stdout and its
 * standard error to stderr, followed on stderr by notes on cut output and on
 * how the job ended. Returns the job's exit code.
 */
export async function printResult(context: CommandContext, response: ResultResponse, json: boolean): Promise<number> {
  const { io, signal } = context;
  const { job, result } = response;
  if (job === undefined) throw new Error('the gateway returned a Result response without a job');

  if (json) {
    await writeAll(io.stdout, formatJson(ResultResponse.toJSON(response)), signal);
    return jobExitCode(job);
  }

  const notes: string[] = [];
  if (result !== undefined) {
    await writeAll(io.stdout, result.stdout, signal);
    await writeAll(io.stderr, result.stderr, signal);
    if (result.stdoutTruncated || result.stderrTruncated) {
      notes.push(`the output above is cut short; "faas logs ${job.id}" prints all of it`);
    }
  } else {
    notes.push(`job ${job.id} has no result because it never ran`);
  }

  const outcome = describeOutcome(job);
  if (outcome !== undefined) notes.push(outcome);
  for (const note of notes) await writeAll(io.stderr, `faas: ${note}\n`, signal);

  return jobExitCode(job);
}

/** Prints a finished job's output and returns its exit code. */
export async function runResult(invocation: JobInvocation, context: CommandContext): Promise<number> {
  const response = await fetchResult(context, invocation.jobId);
  return printResult(context, response, invocation.json);
}
