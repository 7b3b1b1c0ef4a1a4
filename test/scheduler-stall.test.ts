import assert from 'node:assert/strict';
import { JobState } from '../gen/faas/v1/job.js';
import { Mesh, finalRecord } from './harness.js';

describe('a stalled scheduler', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 1 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('keeps workers whose heartbeats wait unread', async () => {
    const repo = await mesh.repository({ 'main.sh': 'sleep 3\necho done\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const { pool } = mesh.scheduler.context;
    const [session] = pool.all();
    await new Promise((resolve) => setTimeout(resolve, 500));

    // The scheduler and the worker share this process. Blocking it for longer than the 1.5 s
    // a silent worker is given leaves the worker's heartbeats unread in the socket meanwhile.
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      // Busy on purpose.
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    assert.ok(pool.all()[0] === session, 'the scheduler dropped the worker, which connected again');
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
    assert.equal(done.attempt, 1);
  });
});
