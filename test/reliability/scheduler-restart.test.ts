import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobState } from '../../gen/faas/v1/job.js';
import { ProcessStack, submitStream, waitForFinal, watchRecords, finalStates } from './support.js';

const submits = 30;
const submitIntervalMs = 100;

describe('reliability: scheduler restart', function () {
  this.timeout(120_000);
  let processes: ProcessStack | undefined;

  before(async function () {
    this.timeout(60_000);
    processes = await ProcessStack.start({ workers: 2, slotsPerWorker: 2, env: { FAAS_ACK_WAIT: '5s' } });
  });
  after(async function () {
    this.timeout(60_000);
    await processes?.stop();
  });

  it('finishes every accepted job exactly once', async () => {
    const stack = processes!.stack;
    // Retries with backoff carry a Submit across the restart; the idempotency key keeps it one job.
    const client = processes!.client({ retries: 10, deadlineMs: 30_000 });
    const url = await processes!.repository({ 'main.sh': 'cat\nsleep 0.3\n' });

    const restart = (async () => {
      await sleep((submitIntervalMs * submits) / 3);
      const scheduler = stack.services().find((service) => service.name === 'scheduler')!;
      await stack.killService('scheduler', 'SIGTERM');
      await stack.restartService('scheduler');
      const restarted = stack.services().find((service) => service.name === 'scheduler')!;
      assert.notEqual(restarted.pid, scheduler.pid, 'a new scheduler process runs');
    })();
    const { accepted, failures, done } = submitStream(client, url, submits, submitIntervalMs);
    await Promise.all([restart, done]);

    assert.deepEqual(failures.map((failure) => `${failure.codeName}: ${failure.message}`), [], 'every Submit succeeds after retries');
    assert.equal(new Set(accepted.map(({ jobId }) => jobId)).size, submits, 'each Submit made its own job');

    const outcomes = await Promise.all(accepted.map(({ jobId }) => waitForFinal(client, jobId, 60_000).catch((error: Error) => error)));
    const unfinished = outcomes.flatMap((outcome) => (outcome instanceof Error ? [outcome.message] : []));
    assert.deepEqual(unfinished, [], 'every accepted job reaches a final state');

    for (const { jobId, input } of accepted) {
      const records = await watchRecords(client, jobId, 20_000);
      assert.equal(records.filter((record) => finalStates.has(record.state)).length, 1, `job ${jobId} has one final record`);
      const last = records.at(-1)!;
      assert.equal(last.state, JobState.JOB_STATE_SUCCEEDED, `job ${jobId}: ${last.error?.message}`);
      const { result } = await client.result(jobId);
      assert.equal(result?.stdout.toString(), input, `job ${jobId} returns its own input`);
    }

    const listed = [];
    for await (const job of client.listAll({ signal: AbortSignal.timeout(10_000) })) listed.push(job.id);
    assert.equal(listed.length, submits, 'List shows no duplicate job from a retried Submit');
  });
});
