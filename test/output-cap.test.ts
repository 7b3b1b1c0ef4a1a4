import assert from 'node:assert/strict';
import { JobState } from '../gen/faas/v1/job.js';
import { maxOutputCapBytes } from '../services/worker/config.js';
import { Mesh, finalRecord } from './harness.js';

// At the largest FAAS_OUTPUT_CAP a result contains that much stdout and as much
// stderr, and the worker sends it in one JobOutcome message, whose gRPC limit
// on both ends is 8 MiB.
describe('output cap at its maximum', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({
      workers: 1,
      worker: { outputCapBytes: maxOutputCapBytes },
      scheduler: { maxAttempts: 1 },
    });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('records a job that fills both streams', async () => {
    const repo = await mesh.repository({
      'main.sh': `head -c ${maxOutputCapBytes} /dev/zero\nhead -c ${maxOutputCapBytes} /dev/zero >&2\n`,
    });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const done = await finalRecord(mesh, job!.id);

    assert.equal(JobState[done.state], 'JOB_STATE_SUCCEEDED', done.error?.message);
    assert.equal(done.attempt, 1);
  });
});
