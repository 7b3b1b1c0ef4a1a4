import assert from 'node:assert/strict';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { JobState } from '../../gen/faas/v1/job.js';
import { createLogger } from '../../common/logger.js';
import { useNatsServer } from '../../dev/nats-suite.js';
import { ownerToken } from './active-slots.js';
import { FinishedIndex } from './finished-index.js';
import { JobStore } from './job-store.js';

describe('JobStore.listIds', function () {
  this.timeout(30_000);
  const nats = useNatsServer();


  it('lists a just-finished job once', async () => {
    const kvm = new Kvm(jetstream(nats.nc));
    const index = await kvm.create('index_listing', { history: 1 });
    const finished = new FinishedIndex(index, await jetstreamManager(nats.nc), 'index_listing', 86_400_000);
    const store = new JobStore(await kvm.create('jobs_listing', { history: 1 }), index, createLogger('test', 'silent'), { finished });
    await store.reserveActiveSlot('alice', 'j1', 5);
    await store.reserveActiveSlot('alice', 'j2', 5);
    // j2 finished: its index entry is written, and its slot is not released yet.
    await index.put(`o.${ownerToken('alice')}.SUCCEEDED.j2`, new Uint8Array());

    const entries = await store.listIds({ owner: 'alice', limit: 2 });
    assert.deepEqual(entries.map((entry) => entry.jobId), ['j2', 'j1']);
    assert.equal(entries[0].state, JobState.JOB_STATE_SUCCEEDED);
    assert.equal(entries[1].state, undefined);
  });
});
