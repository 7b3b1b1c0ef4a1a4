import assert from 'node:assert/strict';
import { JobState } from '../../gen/faas/v1/job.js';
import { ProcessStack, logText, waitFor, watchRecords } from './support.js';

// A draining worker sends the outcome of a job that ends within its grace
// period before it exits, and hands back a job that outlasts it.
describe('reliability: worker drain on SIGTERM', function () {
  this.timeout(90_000);
  let processes: ProcessStack | undefined;

  // A fresh stack per case: each adds its own workers, so it decides which worker gets the job.
  beforeEach(async function () {
    this.timeout(60_000);
    processes = await ProcessStack.start({ workers: 0, slotsPerWorker: 1 });
  });
  afterEach(async function () {
    this.timeout(60_000);
    await processes?.stop();
  });

  /** Submits `script`, waits for it to print "started" on the only worker, and returns the job id and worker id. */
  async function startOnOnlyWorker(script: string): Promise<{ jobId: string; workerId: string }> {
    const client = processes!.client();
    const url = await processes!.repository({ 'main.sh': script });
    const { job } = await client.submit({ repositoryUrl: url, timeoutSeconds: 60 });
    await waitFor(async () => (await logText(client, job!.id)).includes('started'), 30_000, 'the job to print');
    const running = await client.status(job!.id);
    assert.equal(running.state, JobState.JOB_STATE_RUNNING);
    return { jobId: job!.id, workerId: running.workerId };
  }

  it('hands back a job that outlasts the grace period', async () => {
    const client = processes!.client();
    const draining = await processes!.stack.addWorker({ WORKER_SHUTDOWN_GRACE: '1s' });
    const { jobId, workerId } = await startOnOnlyWorker('echo "started"\nsleep 4\necho "done"\n');
    assert.equal(processes!.workerService(workerId), draining);
    await processes!.stack.addWorker({ WORKER_SHUTDOWN_GRACE: '10s' });

    const stopStartedMs = Date.now();
    await processes!.stack.killService(draining, 'SIGTERM');
    const stopMs = Date.now() - stopStartedMs;
    assert.ok(stopMs < 8_000, `the worker exited ${stopMs} ms after SIGTERM, well past its 1 s grace`);

    const last = (await watchRecords(client, jobId, 45_000)).at(-1)!;
    assert.equal(last.state, JobState.JOB_STATE_SUCCEEDED, last.error?.message);
    assert.equal(last.attempt, 2, 'the job ran again after the hand-back');
    assert.notEqual(last.workerId, workerId);
    const { result } = await client.result(jobId);
    assert.equal(result?.stdout.toString(), 'started\ndone\n');
  });

  it('lets a job finish within the grace period', async () => {
    const client = processes!.client();
    await processes!.stack.addWorker({ WORKER_SHUTDOWN_GRACE: '10s' });
    const { jobId, workerId } = await startOnOnlyWorker('echo "started"\nsleep 2\necho "done"\n');
    const draining = processes!.workerService(workerId);
    await processes!.stack.addWorker({ WORKER_SHUTDOWN_GRACE: '10s' });

    const stopStartedMs = Date.now();
    await processes!.stack.killService(draining, 'SIGTERM');
    const stopMs = Date.now() - stopStartedMs;
    assert.ok(stopMs < 9_000, `the worker exited ${stopMs} ms after SIGTERM; it should exit once its job is done`);

    const last = (await watchRecords(client, jobId, 30_000)).at(-1)!;
    assert.equal(last.state, JobState.JOB_STATE_SUCCEEDED, last.error?.message);
    assert.equal(last.attempt, 1, 'the job finished on the draining worker');
    assert.equal(last.workerId, workerId);
    const { result } = await client.result(jobId);
    assert.equal(result?.stdout.toString(), 'started\ndone\n');
  });
});
