import assert from 'node:assert/strict';
import { JobState } from '../gen/faas/v1/job.js';
import { idempotencyHash } from '../services/scheduler/job-store.js';
import { sweepFinishedJobs } from '../services/scheduler/retention.js';
import { Mesh, finalRecord, rejection, waitFor } from './harness.js';

describe('retention of finished jobs', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 1, slots: 1 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('deletes finished jobs and keeps queued and running ones', async () => {
    const quick = await mesh.repository({ 'main.sh': 'echo done\n' });
    const slow = await mesh.repository({ 'main.sh': 'sleep 30\n' });
    const finished = (await mesh.client.submit({ repositoryUrl: quick.url, idempotencyKey: 'retention-1' })).job!;
    await finalRecord(mesh, finished.id);
    const running = (await mesh.client.submit({ repositoryUrl: slow.url })).job!;
    await waitFor(async () => (await mesh.client.status(running.id)).state === JobState.JOB_STATE_RUNNING, 10_000, 'the slow job to run');
    const queued = (await mesh.client.submit({ repositoryUrl: quick.url })).job!;

    const deleted = await sweepFinishedJobs(mesh.scheduler.context, 1, Date.now() + 1_000);
    assert.equal(deleted, 1);

    const missing = await rejection(mesh.client.status(finished.id));
    assert.equal(missing.codeName, 'NOT_FOUND');
    const { jsm, names, blobs } = mesh.scheduler.context.nats;
    const lastLog = await jsm.streams.getMessage(names.logStream, { last_by_subj: names.logSubject(finished.id) }).catch(() => null);
    assert.equal(lastLog, null, 'the log of the deleted job is still stored');
    const result = await blobs.info(`result/${finished.id}/1`);
    assert.ok(result === null || result.deleted, 'the result of the deleted job is still stored');
    // Nothing is left of the job in the buckets, not even a delete marker.
    const leftIn = async (bucket: string, filter: string) =>
      Object.keys((await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `$KV.${bucket}.${filter}` })).state.subjects ?? {});
    assert.deepEqual(await leftIn(names.jobsBucket, finished.id), []);
    assert.deepEqual(await leftIn(names.resultsBucket, `${finished.id}.*`), []);
    assert.deepEqual(await leftIn(names.indexBucket, `k.${idempotencyHash(finished.owner, 'retention-1')}`), []);
    assert.deepEqual(await leftIn(names.indexBucket, `f.*.*.*.*.${finished.id}`), []);
    assert.equal((await mesh.client.status(running.id)).state, JobState.JOB_STATE_RUNNING);
    assert.equal((await mesh.client.status(queued.id)).state, JobState.JOB_STATE_QUEUED);
    const listed = await mesh.client.list({ pageSize: 500 });
    assert.deepEqual(listed.jobs.map((job) => job.id).sort(), [running.id, queued.id].sort());

    // The idempotency key is free again once its job is gone.
    const again = await mesh.client.submit({ repositoryUrl: quick.url, idempotencyKey: 'retention-1' });
    assert.notEqual(again.job!.id, finished.id);

    await mesh.client.cancel(running.id);
    await finalRecord(mesh, queued.id);
  });
});
