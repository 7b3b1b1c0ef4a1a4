import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaasClientError } from '../../client/errors.js';
import { FailureReason, JobState, type Job } from '../../gen/faas/v1/job.js';
import { ProcessStack, waitForFinal, watchRecords, finalStates } from './support.js';

const jobs = 24;
const maxCancelDelayMs = 2_500;

describe('reliability: cancel racing completion', function () {
  this.timeout(120_000);
  let processes: ProcessStack | undefined;

  before(async function () {
    this.timeout(60_000);
    processes = await ProcessStack.start({ workers: 2, slotsPerWorker: 2 });
  });
  after(async function () {
    this.timeout(60_000);
    await processes?.stop();
  });

  it('ends each job in one consistent final state', async () => {
    const client = processes!.client();
    const url = await processes!.repository({ 'main.sh': 'echo "ran"\n' });

    // Each job is cancelled at a random moment: while queued, cloning, running or after it ended.
    const runs = await Promise.all(
      Array.from({ length: jobs }, async () => {
        const { job } = await client.submit({ repositoryUrl: url, timeoutSeconds: 60 });
        await sleep(Math.floor(Math.random() * maxCancelDelayMs));
        let cancelled: Job | FaasClientError;
        try {
          cancelled = await client.cancel(job!.id, 'reliability test');
        } catch (error) {
          assert.ok(error instanceof FaasClientError, `Cancel failed with ${String(error)}`);
          cancelled = error;
        }
        return { jobId: job!.id, cancelled };
      }),
    );

    const counts = { succeeded: 0, cancelled: 0 };
    for (const { jobId, cancelled } of runs) {
      const status = await waitForFinal(client, jobId, 30_000);
      const records = await watchRecords(client, jobId, 10_000);
      assert.equal(records.filter((record) => finalStates.has(record.state)).length, 1, `job ${jobId} has one final record`);
      assert.equal(records.at(-1)!.state, status.state, `Watch and Status agree on job ${jobId}`);
      assert.equal(records.at(-1)!.attempt, status.attempt, `Watch and Status agree on the attempt of job ${jobId}`);

      if (cancelled instanceof FaasClientError) {
        // Cancel lost the race: the job had already finished.
        assert.equal(cancelled.codeName, 'FAILED_PRECONDITION', `Cancel of job ${jobId}: ${cancelled.message}`);
        assert.equal(status.state, JobState.JOB_STATE_SUCCEEDED, `job ${jobId} finished before Cancel`);
      } else if (cancelled.state === JobState.JOB_STATE_CANCELLED) {
        assert.equal(status.state, JobState.JOB_STATE_CANCELLED, `job ${jobId} was cancelled while queued`);
      } else {
        assert.equal(cancelled.state, JobState.JOB_STATE_RUNNING, `Cancel of job ${jobId} returned ${JobState[cancelled.state]}`);
        assert.ok(cancelled.cancelRequested, `Cancel of running job ${jobId} sets cancel_requested`);
      }

      const result = await client.result(jobId).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
      if (status.state === JobState.JOB_STATE_SUCCEEDED) {
        counts.succeeded++;
        assert.ok(!(result instanceof Error), `succeeded job ${jobId} has a result: ${String(result)}`);
        assert.equal(result.job?.state, JobState.JOB_STATE_SUCCEEDED);
        assert.equal(result.result?.exitCode, 0);
        assert.equal(result.result?.stdout.toString(), 'ran\n');
      } else {
        counts.cancelled++;
        assert.equal(status.state, JobState.JOB_STATE_CANCELLED, `job ${jobId} ended ${JobState[status.state]}: ${status.error?.message}`);
        assert.equal(status.error?.reason, FailureReason.FAILURE_REASON_CANCELLED);
        if (result instanceof Error) {
          // Cancelled before a worker ran it, so there is nothing to return.
          assert.ok(result instanceof FaasClientError, `Result of job ${jobId}: ${String(result)}`);
          assert.equal(result.codeName, 'FAILED_PRECONDITION', `Result of job ${jobId}: ${result.message}`);
        } else {
          assert.equal(result.job?.state, JobState.JOB_STATE_CANCELLED, `Result and Status agree on job ${jobId}`);
        }
      }
    }
    console.log(`      ${counts.succeeded} succeeded, ${counts.cancelled} cancelled`);
  });
});
