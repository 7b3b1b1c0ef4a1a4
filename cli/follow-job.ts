import { sleep } from '../client/retry.js';
import { isFinal } from '../common/job-states.js';
import type { Job } from '../gen/faas/v1/job.js';
import { copyLogs } from './commands/logs.js';
import type { CommandContext } from './commands/context.js';
import { jobExitCode } from './exit-codes.js';
import { endOpenLine, endOpenLines, InterruptedError, writeAll } from './io.js';
import { describeOutcome, describeProgress } from './output.js';
import { ProgressLine } from './progress.js';

/** Status polls after the output ended, while the job's record catches up: 20 × 500 ms = 10 s. */
const finalStatePolls = 20;
const finalStatePollMs = 500;
/** Time the watch has, after the output ended, to bring the final record before the status polls start. */
const finalStateWaitMs = 10_000;

/**
 * Follows a submitted job until it ends: a progress line until the first
 * output, then the job's output live, then a note on stderr when the job did
 * not succeed. Returns the job's exit code.
 */
export async function followJob(context: CommandContext, submitted: Job): Promise<number> {
  const { client, io, signal } = context;
  const progress = new ProgressLine(io.stderr);
  progress.update(describeProgress(submitted));

  // The watch feeds the progress line until the first output, then keeps the
  // latest record. So the final state needs no call of its own, for which a
  // script's token may have expired by the time a long job ends. Its errors
  // are dropped, because the logs stream reports any failure of the gateway.
  let latest = submitted;
  let showProgress = true;
  const watchController = new AbortController();
  const watchSignal = AbortSignal.any([signal, watchController.signal]);
  const watching = (async () => {
    for await (const job of client.watch(submitted.id, { signal: watchSignal })) {
      if (watchSignal.aborted) return;
      latest = job;
      if (showProgress) progress.update(describeProgress(job));
    }
  })().catch(() => undefined);

  const stopProgress = (): void => {
    showProgress = false;
    progress.stop();
  };

  let stderrTail = '';
  try {
    stderrTail = await copyLogs(context, submitted.id, { follow: true, beforeFirstChunk: stopProgress });
  } catch (error) {
    stopProgress();
    watchController.abort();
    await watching;
    if (signal.reason instanceof InterruptedError) {
      const id = submitted.id;
      const note = `faas: stopped following job ${id}. The job keeps running, and "faas cancel ${id}" stops it.\n`;
      await endOpenLine(io.stderr);
      await writeAll(io.stderr, note);
    }
    throw error;
  }
  stopProgress();

  await endOpenLines(io, signal);
  // The record turns final a moment after the output ends, and the watch ends with it.
  await Promise.race([watching, sleep(finalStateWaitMs, watchSignal).catch(() => undefined)]);
  watchController.abort();
  await watching;
  const job = isFinal(latest.state) ? latest : await waitForFinalState(context, submitted.id);
  // The worker writes why a job could not run to the job's stderr too, which was just printed.
  const outcome = describeOutcome(job, { shownOutput: stderrTail });
  if (outcome !== undefined) {
    await endOpenLine(io.stderr, signal);
    await writeAll(io.stderr, `faas: ${outcome}\n`, signal);
  }
  return jobExitCode(job);
}

/**
 * Waits for a submitted job to reach a final state without reading its
 * output, showing a progress line meanwhile. Returns the final record.
 */
export async function waitForJob(context: CommandContext, submitted: Job): Promise<Job> {
  const { client, io, signal } = context;
  const progress = new ProgressLine(io.stderr);
  progress.update(describeProgress(submitted));

  let latest = submitted;
  try {
    for await (const job of client.watch(submitted.id, { signal })) {
      latest = job;
      progress.update(describeProgress(job));
    }
  } finally {
    progress.stop();
  }

  return isFinal(latest.state) ? latest : waitForFinalState(context, submitted.id);
}

/**
 * Polls the job's status until it is final. The output stream can end a
 * moment before the job's record shows the final state.
 */
async function waitForFinalState(context: CommandContext, jobId: string): Promise<Job> {
  const { client, signal } = context;
  for (let poll = 0; poll < finalStatePolls; poll++) {
    const job = await client.status(jobId, { signal });
    if (isFinal(job.state)) return job;
    await sleep(finalStatePollMs, signal);
  }
  const waitedSeconds = (finalStatePolls * finalStatePollMs) / 1000;
  throw new Error(
    `job ${jobId} has not reached a final state ${waitedSeconds} s after its output ended. ` +
      `Check it with "faas status ${jobId}"`,
  );
}
