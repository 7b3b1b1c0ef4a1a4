import assert from 'node:assert/strict';
import { JobState } from '../../gen/faas/v1/job.js';
import { ProcessStack, logText, waitFor, watchRecords, finalStates } from './support.js';

describe('reliability: worker killed mid-job', function () {
  this.timeout(90_000);
  let processes: ProcessStack | undefined;

  before(async function () {
    this.timeout(60_000);
    processes = await ProcessStack.start({ workers: 2, slotsPerWorker: 1 });
  });
  after(async function () {
    this.timeout(60_000);
    await processes?.stop();
  });

  it('reruns the job on another worker as attempt 2', async () => {
    const client = processes!.client();
    const url = await processes!.repository({ 'main.sh': 'echo "started"\nsleep 3\necho "done"\n' });
    const { job } = await client.submit({ repositoryUrl: url, timeoutSeconds: 60 });
    assert.ok(job, 'Submit returned no job');

    await waitFor(async () => (await logText(client, job.id)).includes('started'), 30_000, 'the first attempt to print');
    const running = await client.status(job.id);
    assert.equal(running.state, JobState.JOB_STATE_RUNNING);
    assert.equal(running.attempt, 1);
    const killed = processes!.workerService(running.workerId);
    await processes!.stack.killService(killed, 'SIGKILL');

    const records = await watchRecords(client, job.id, 45_000);
    const last = records.at(-1);
    assert.ok(last, 'Watch returned no record');
    assert.equal(last.state, JobState.JOB_STATE_SUCCEEDED, last.error?.message);
    assert.equal(last.attempt, 2);
    assert.notEqual(last.workerId, running.workerId, 'attempt 2 ran on the surviving worker');
    assert.equal(records.filter((record) => finalStates.has(record.state)).length, 1, 'Watch shows one final record');

    const { result } = await client.result(job.id);
    assert.ok(result, 'Result returned no result');
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout.toString(), 'started\ndone\n', 'the result holds the output of attempt 2 only');
    assert.deepEqual(await processes!.storedResultAttempts(job.id), [2], 'only attempt 2 stored a result');

    const log = await logText(client, job.id);
    assert.equal(
      log,
      `started\nfaas: attempt 2 starts (worker ${running.workerId} disconnected during attempt 1)\nstarted\ndone\n`,
      'the log keeps attempt 1 output, then attempt 2',
    );
    const settled = await client.status(job.id);
    assert.equal(settled.state, JobState.JOB_STATE_SUCCEEDED, 'the final state does not change afterwards');
    assert.equal(settled.attempt, 2);
  });
});
