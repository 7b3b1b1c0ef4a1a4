import assert from 'node:assert/strict';
import { FailureReason, JobState } from '../gen/faas/v1/job.js';
import { Mesh, finalRecord, rejection } from './harness.js';

describe('retries', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 1 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('retries failed runs when the policy asks', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo trying\nexit 4\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url, retry: { maxAttempts: 3, retryFailedRuns: true } });
    const attempts = new Set<number>();
    let last;
    for await (const record of mesh.client.watch(job!.id)) {
      if (record.state === JobState.JOB_STATE_RUNNING) attempts.add(record.attempt);
      last = record;
    }
    assert.deepEqual([...attempts], [1, 2, 3]);
    assert.equal(last!.state, JobState.JOB_STATE_FAILED);
    assert.equal(last!.error!.reason, FailureReason.FAILURE_REASON_NON_ZERO_EXIT);
    assert.match(last!.error!.message, /failed after 3 attempts; the last one: exited with code 4/);

    const chunks = [];
    for await (const chunk of mesh.client.logs(job!.id)) chunks.push(chunk);
    assert.deepEqual([...new Set(chunks.map((chunk) => chunk.attempt))], [1, 2, 3]);
    // The worker marks where each retry's output begins.
    const log = Buffer.concat(chunks.map((chunk) => chunk.data)).toString();
    assert.equal(
      log,
      'trying\n' +
        'faas: attempt 2 starts (attempt 1 failed: exited with code 4)\n' +
        'trying\n' +
        'faas: attempt 3 starts (attempt 2 failed: exited with code 4)\n' +
        'trying\n',
    );
    // The result is the last attempt's own output, without the marker.
    const { result } = await mesh.client.result(job!.id);
    assert.equal(result!.stdout.toString(), 'trying\n');
    assert.equal(result!.stderr.toString(), '');
  });

  it('does not retry failed runs by default', async () => {
    const repo = await mesh.repository({ 'main.sh': 'exit 4\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.attempt, 1);
    assert.equal(done.error!.message, 'exited with code 4');
  });

  it('retries a network failure while cloning', async () => {
    // Nothing listens on port 1 of the loopback address, so the fetch fails to connect.
    const { job } = await mesh.client.submit({ repositoryUrl: 'http://127.0.0.1:1/nothing.git', retry: { maxAttempts: 2, retryFailedRuns: false } });
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.state, JobState.JOB_STATE_FAILED);
    assert.equal(done.attempt, 2);
    assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_CLONE_FAILED);
    assert.match(done.error!.message, /failed after 2 attempts/);
  });

  it('does not retry a missing repository', async () => {
    const { job } = await mesh.client.submit({ repositoryUrl: `${mesh.git.url}/missing.git` });
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.attempt, 1);
    assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_CLONE_FAILED);
  });

  it('rejects more attempts than the operator allows', async () => {
    for (const maxAttempts of [11, 50]) {
      const error = await rejection(mesh.client.submit({ repositoryUrl: `${mesh.git.url}/any.git`, retry: { maxAttempts, retryFailedRuns: true } }));
      assert.equal(error.codeName, 'INVALID_ARGUMENT');
      assert.equal(error.message, `spec.retry.max_attempts: is ${maxAttempts}; this platform allows 1 to 10, or 0 for its default of 3`);
    }
  });
});
