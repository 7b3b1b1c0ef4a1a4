import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobState } from '../../gen/faas/v1/job.js';
import { type ProcessStack, submitStream, waitFor, waitForFinal, watchRecords, finalStates } from './support.js';

const submits = 30;
const submitIntervalMs = 100;

/**
 * Submits 30 jobs 100 ms apart, SIGKILLs the nats-server a third of the way
 * in and restarts it on the same store 2 s later. Then checks that every
 * Submit either returned a job that ends SUCCEEDED with its own output, or
 * failed with UNAVAILABLE, and that the services reconnected by themselves.
 * `beforeJobs` runs after the restart and before the jobs are awaited.
 */
export async function submitThroughNatsRestart(processes: ProcessStack, beforeJobs: () => Promise<void> = async () => {}): Promise<void> {
  const nats = processes.stack.natsServer;
  assert.ok(nats, 'the stack did not start its own nats-server');
  // No retries, so a Submit during the outage shows its own status code.
  const submitter = processes.client({ retries: 0, deadlineMs: 8_000 });
  const reader = processes.client({ retries: 8 });
  const url = await processes.repository({ 'main.sh': 'cat\nsleep 0.5\n' });

  const { accepted, failures, done: submitting } = submitStream(submitter, url, submits, submitIntervalMs);

  await sleep((submitIntervalMs * submits) / 3);
  await nats.kill();
  await sleep(2_000);
  await nats.restart();
  await submitting;

  for (const failure of failures) {
    assert.equal(failure.codeName, 'UNAVAILABLE', `a Submit during the outage failed with ${failure.codeName}: ${failure.message}`);
  }
  assert.ok(failures.length > 0, 'no Submit fell into the outage');
  assert.ok(accepted.length > 0, 'no Submit was accepted');
  assert.equal(accepted.length + failures.length, submits);

  // The scheduler reconnects by itself: a Submit after the restart succeeds.
  let resubmitted: string | undefined;
  await waitFor(
    async () => {
      const response = await reader.submit({ repositoryUrl: url, input: Buffer.from('after\n') }).catch(() => undefined);
      resubmitted = response?.job?.id;
      return resubmitted !== undefined;
    },
    30_000,
    'a Submit after the restart to succeed',
  );
  accepted.push({ jobId: resubmitted!, input: 'after\n' });
  await beforeJobs();

  const outcomes = await Promise.all(accepted.map(({ jobId }) => waitForFinal(reader, jobId, 40_000).catch((error: Error) => error)));
  const unfinished = outcomes.flatMap((outcome) => (outcome instanceof Error ? [outcome.message] : []));
  assert.deepEqual(unfinished, [], 'every accepted job reaches a final state');

  for (const { jobId, input } of accepted) {
    const records = await watchRecords(reader, jobId, 20_000);
    assert.equal(records.filter((record) => finalStates.has(record.state)).length, 1, `job ${jobId} has one final record`);
    const last = records.at(-1)!;
    assert.equal(last.state, JobState.JOB_STATE_SUCCEEDED, `job ${jobId}: ${last.error?.message}`);
    const { result } = await reader.result(jobId);
    assert.equal(result?.stdout.toString(), input, `job ${jobId} returns its own input`);
  }
}
