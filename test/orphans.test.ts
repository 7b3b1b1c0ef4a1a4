import assert from 'node:assert/strict';
import { JobState } from '../gen/faas/v1/job.js';
import { orphanAgeMs } from '../services/scheduler/orphans.js';
import { connect } from '@nats-io/transport-node';
import { Mesh, finalRecord } from './harness.js';

describe('queued jobs without a queue message', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('queues a job again once its message is gone', async () => {
    const repository = await mesh.repository({ 'main.sh': 'echo found again\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repository.url });
    const { context } = mesh.scheduler;
    const requeue = (nowMs: number) => mesh.scheduler.requeueOrphans(nowMs);
    const later = Date.now() + orphanAgeMs + 1_000;

    // The message still waits in the queue, so nothing is an orphan.
    assert.equal(await requeue(later), 0);

    // Losing the message, as a nats-server may lose a write it acknowledged.
    await context.nats.jsm.streams.purge(context.nats.names.jobStream);
    assert.equal(await requeue(Date.now()), 0, 'a young job is left alone');
    assert.equal(await requeue(later), 1);
    assert.equal(await requeue(later), 0, 'the new message waits in the queue');

    await mesh.addWorker();
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
    assert.equal(done.attempt, 1);
  });

  it('lists nothing again on an idle platform', async () => {
    const { context } = mesh.scheduler;
    const indexStream = `KV_${context.nats.names.indexBucket}`;
    const consumers = async () => (await context.nats.jsm.streams.info(indexStream)).state.consumer_count;
    // Listings of the index bucket's keys, which ask for the stream's subjects.
    const spyConnection = await connect({ servers: mesh.nats.url });
    let listings = 0;
    spyConnection.subscribe(`$JS.API.STREAM.INFO.${indexStream}`, { callback: () => void listings++ });
    await spyConnection.flush();
    const listingsAfter = async (sweep: () => Promise<unknown>) => {
      const before = listings;
      await sweep();
      await spyConnection.flush();
      return listings - before;
    };
    try {
      const consumersBefore = await consumers();
      // The first sweep lists the active jobs; there are none.
      assert.ok((await listingsAfter(() => mesh.scheduler.requeueOrphans())) > 0, 'the first sweep listed no keys');
      for (let sweep = 0; sweep < 3; sweep++) {
        assert.equal(await listingsAfter(() => mesh.scheduler.requeueOrphans()), 0, 'a sweep of an unchanged job bucket listed keys');
      }

      // A new job changes the bucket, so the next sweep looks again.
      const repository = await mesh.repository({ 'main.sh': 'echo again\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repository.url });
      await finalRecord(mesh, job!.id);
      assert.ok((await listingsAfter(() => mesh.scheduler.requeueOrphans())) > 0, 'the sweep after a change listed no keys');
      assert.equal(await consumers(), consumersBefore, 'a listing left a consumer');
    } finally {
      await spyConnection.close();
    }
  });
});
