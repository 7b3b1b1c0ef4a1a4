import { status as GrpcStatus } from '@grpc/grpc-js';
import { FaasClientError } from '../../client/errors.js';
import { formatBytes } from '../../common/config.js';
import { isFinal } from '../../common/job-states.js';
import { FailureReason, type Job, type JobResult } from '../../gen/faas/v1/job.js';
import { ResultResponse } from '../../gen/faas/v1/job_service.js';
import type { JobInvocation } from '../args.js';
import { jobExitCode } from '../exit-codes.js';
import { endOpenLine, writeAll } from '../io.js';
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

/** Names the streams that a result keeps only the start of, and how much of each. */
function describeCutOutput(job: Job, result: JobResult): string {
  const keptParts: string[] = [];
  if (result.stdoutTruncated) keptParts.push(`the first ${formatBytes(result.stdout.length)} of stdout`);
  if (result.stderrTruncated) keptParts.push(`the first ${formatBytes(result.stderr.length)} of stderr`);
  const written = formatBytes(result.outputBytes);
  // The worker stops storing output at the limit.
  const logged = job.error?.reason === FailureReason.FAILURE_REASON_OUTPUT_LIMIT ? 'the output up to the limit' : 'all of it';
  return `the result keeps only ${keptParts.join(' and ')}, of ${written} the job wrote to both streams; "faas logs ${job.id}" prints ${logged}`;
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
  if (result === undefined) notes.push(`job ${job.id} has no result because it never ran`);
  else if (result.stdoutTruncated || result.stderrTruncated) notes.push(describeCutOutput(job, result));
  // The worker writes why a job could not run to its stderr too, which is printed here.
  const outcome = describeOutcome(job, { shownOutput: result?.stderr.toString() });
  if (outcome !== undefined) notes.push(outcome);

  if (result !== undefined) {
    await writeAll(io.stdout, result.stdout, signal);
    await endOpenLine(io.stdout, signal, { onlyTerminal: true });
    await writeAll(io.stderr, result.stderr, signal);
    // The notes start a line of their own, wherever stderr goes.
    await endOpenLine(io.stderr, signal, { onlyTerminal: notes.length === 0 });
  }
  for (const note of notes) await writeAll(io.stderr, `faas: ${note}\n`, signal);

  return jobExitCode(job);
}

/** Prints a finished job's output and returns its exit code. */
export async function runResult(invocation: JobInvocation, context: CommandContext): Promise<number> {
  const response = await fetchResult(context, invocation.jobId);
  return printResult(context, response, invocation.json);
}
