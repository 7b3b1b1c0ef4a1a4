import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { FaasClientError } from '../../client/errors.js';
import { JobState } from '../../gen/faas/v1/job.js';
import { ProcessStack, waitFor, waitForFinal, watchRecords, finalStates } from './support.js';

const submits = 30;
const submitIntervalMs = 100;

describe('reliability: nats-server restart under load', function () {
  this.timeout(150_000);
  let processes: ProcessStack | undefined;

  before(async function () {
    this.timeout(60_000);
    processes = await ProcessStack.start({ workers: 2, slotsPerWorker: 2, env: { FAAS_ACK_WAIT: '5s' } });
  });
  after(async function () {
    this.timeout(60_000);
    await processes?.stop();
  });

  it('finishes every accepted job and rejects the rest', async () => {
    const nats = processes!.stack.natsServer;
    assert.ok(nats, 'the stack did not start its own nats-server');
    // No retries, so a Submit during the outage shows its own status code.
    const submitter = processes!.client({ retries: 0, deadlineMs: 8_000 });
    const reader = processes!.client({ retries: 8 });
    const url = await processes!.repository({ 'main.sh': 'cat\nsleep 0.5\n' });

    const accepted: Array<{ jobId: string; input: string }> = [];
    const failures: FaasClientError[] = [];
    const submitting = (async () => {
      const calls: Array<Promise<void>> = [];
      for (let i = 0; i < submits; i++) {
        const input = `job-${i}\n`;
        calls.push(
          submitter.submit({ repositoryUrl: url, input: Buffer.from(input), timeoutSeconds: 60 }).then(
            ({ job }) => {
              accepted.push({ jobId: job!.id, input });
            },
            (error: unknown) => {
              assert.ok(error instanceof FaasClientError, `Submit failed with ${String(error)}`);
              failures.push(error);
            },
          ),
        );
        await sleep(submitIntervalMs);
      }
      await Promise.all(calls);
    })();

    // Kill the server a third of the way into the submits, while jobs run, and bring it back on the same store.
    await sleep(submitIntervalMs * (submits / 3));
    await nats.kill();
    await sleep(2_000);
    await nats.restart();
    await submitting;

    for (const failure of failures) {
      assert.equal(failure.codeName, 'UNAVAILABLE', `a Submit during the outage failed with ${failure.codeName}: ${failure.message}`);
    }
    assert.ok(accepted.length > 0, 'no Submit was accepted');

    // The services reconnect by themselves: a new Submit after the restart works.
    let after: string | undefined;
    await waitFor(
      async () => {
        after = (await reader.submit({ repositoryUrl: url, input: Buffer.from('after\n') }).catch(() => undefined))?.job?.id;
        return after !== undefined;
      },
      30_000,
      'a Submit after the restart to succeed',
    );
    accepted.push({ jobId: after!, input: 'after\n' });

    const outcomes = await Promise.all(accepted.map(({ jobId }) => waitForFinal(reader, jobId, 90_000).catch((error: Error) => error)));
    const stuck = outcomes.flatMap((outcome, i) => (outcome instanceof Error ? [`${accepted[i].jobId}: ${outcome.message}`] : []));
    assert.deepEqual(stuck, [], 'every accepted job reaches a final state');

    for (const { jobId, input } of accepted) {
      const records = await watchRecords(reader, jobId, 20_000);
      assert.equal(records.filter((record) => finalStates.has(record.state)).length, 1, `job ${jobId} has one final record`);
      const last = records.at(-1)!;
      assert.equal(last.state, JobState.JOB_STATE_SUCCEEDED, `job ${jobId}: ${last.error?.message}`);
      const { result } = await reader.result(jobId);
      assert.equal(result?.stdout.toString(), input, `job ${jobId} returns its own input`);
    }
    console.log(`      ${accepted.length - 1} of ${submits} Submits accepted, ${failures.length} UNAVAILABLE`);
    assert.equal(failures.length + accepted.length - 1, submits);
    assert.ok(GrpcStatus.UNAVAILABLE > 0);
  });
});
