import assert from 'node:assert/strict';
import { JobState } from '../gen/faas/v1/job.js';
import type { LogsResponse } from '../gen/faas/v1/job_service.js';
import { startScheduler } from '../services/scheduler/scheduler.js';
import { Mesh, assertContiguousLog, waitFor } from './harness.js';

describe('scheduler restart', function () {
  this.timeout(30_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 1 });
  });
  after(async () => {
    await mesh?.stop();
  });

  /** Stops the only replica with `drainGraceMs` and starts a new one on the same address. */
  async function restartScheduler(drainGraceMs: number): Promise<void> {
    const previous = mesh.scheduler;
    previous.context.config.drainGraceMs = drainGraceMs;
    await previous.stop();
    mesh.scheduler = await startScheduler({ ...previous.context.config, listenAddress: previous.address }, mesh.log);
  }

  it('keeps a running job across a restart', async () => {
    const repo = await mesh.repository({
      'main.sh': 'for i in $(seq 1 60); do echo "line $i"; sleep 0.1; done\n',
    });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url, retry: { maxAttempts: 1, retryFailedRuns: false } });
    const chunks: LogsResponse[] = [];
    const follower = (async () => {
      for await (const chunk of mesh.client.logs(job!.id, { follow: true })) chunks.push(chunk);
    })();
    await waitFor(() => chunks.some((c) => c.data.toString().includes('line 5')), 20_000, 'output before the restart');

    // A drain grace shorter than the job: the new replica takes the running job over from its worker.
    await restartScheduler(200);
    await follower;

    const status = await mesh.client.status(job!.id);
    assert.equal(status.state, JobState.JOB_STATE_SUCCEEDED, status.error?.message);
    assert.equal(status.attempt, 1, 'the attempt went on under the new replica');
    assert.equal(status.interruptedAttempts, 0);

    assertContiguousLog(chunks);
    const followed = Buffer.concat(chunks.map((c) => c.data)).toString();
    const replayed: Buffer[] = [];
    for await (const chunk of mesh.client.logs(job!.id)) replayed.push(chunk.data);
    assert.equal(Buffer.concat(replayed).toString(), followed);
    assert.ok(chunks.every((c) => c.attempt === 1));
    const expected = Array.from({ length: 60 }, (_, i) => `line ${i + 1}\n`).join('');
    assert.equal(followed, expected, 'every line once, in order');
    const { result } = await mesh.client.result(job!.id);
    assert.equal(result?.stdout.toString(), expected);
  });

  it('lets a running job finish before it stops', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo started; sleep 2; echo done\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    await waitFor(async () => (await mesh.client.status(job!.id)).state === JobState.JOB_STATE_RUNNING, 20_000, 'the job to run');

    const stopping = performance.now();
    await restartScheduler(20_000);
    const stoppedAfterMs = performance.now() - stopping;

    const status = await mesh.client.status(job!.id);
    assert.equal(status.state, JobState.JOB_STATE_SUCCEEDED, status.error?.message);
    assert.equal(status.attempt, 1, 'the job ran once');
    assert.equal(status.interruptedAttempts, 0);
    assert.ok(stoppedAfterMs < 15_000, `the stop waited for the job only, ${Math.round(stoppedAfterMs)} ms`);
    const { result } = await mesh.client.result(job!.id);
    assert.equal(result?.stdout.toString(), 'started\ndone\n');
  });
});
