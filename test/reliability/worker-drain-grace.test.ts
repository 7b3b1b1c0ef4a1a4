import assert from 'node:assert/strict';
import { JobState } from '../../gen/faas/v1/job.js';
import { ProcessStack, logText, waitFor, watchRecords } from './support.js';

// A draining worker that finishes its job within the grace period sends the
// outcome before it exits, so the job is not run a second time.
describe('reliability: worker drain within the grace period', function () {
  this.timeout(90_000);
  let processes: ProcessStack | undefined;

  before(async function () {
    this.timeout(60_000);
    // Workers are added by each case, so the case decides which worker gets a job.
    processes = await ProcessStack.start({ workers: 0, slotsPerWorker: 1 });
  });
  after(async function () {
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
