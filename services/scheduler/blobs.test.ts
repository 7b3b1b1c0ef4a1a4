import assert from 'node:assert/strict';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { JobResult } from '../../gen/faas/v1/job.js';
import { useNatsServer } from '../../dev/nats-suite.js';
import { JobBlobs, resultKey } from './blobs.js';

describe('JobBlobs', function () {
  this.timeout(30_000);
  const nats = useNatsServer();
  let store: ObjectStore;
  let results: KV;
  let buckets = 0;

  beforeEach(async () => {
    const suffix = buckets++;
    store = await new Objm(jetstream(nats.nc)).create(`blobs_${suffix}`);
    results = await new Kvm(jetstream(nats.nc)).create(`results_${suffix}`, { history: 1 });
  });

  const result = (stdoutBytes: number) => JobResult.fromPartial({ exitCode: 0, stdout: Buffer.alloc(stdoutBytes, 0x61), durationMs: 12 });
  const objectNames = async () => (await store.list()).filter((info) => !info.deleted).map((info) => info.name);

  it('keeps a small result in the results bucket', async () => {
    const blobs = new JobBlobs(store, results, nats.nc.info?.max_payload);
    await blobs.putResult('job-a', 1, result(100));
    assert.equal((await results.get(resultKey('job-a', 1)))?.operation, 'PUT');
    assert.deepEqual(await objectNames(), []);
    assert.deepEqual(await blobs.getResult('job-a', 1), result(100));
  });

  it('sends a large result to the object store', async () => {
    const blobs = new JobBlobs(store, results, nats.nc.info?.max_payload);
    await blobs.putResult('job-b', 2, result(600 * 1024));
    assert.equal(await results.get(resultKey('job-b', 2)), null);
    assert.deepEqual(await objectNames(), ['result/job-b/2']);
    assert.deepEqual(await blobs.getResult('job-b', 2), result(600 * 1024));
  });

  it('keeps results under a small message limit', async () => {
    const blobs = new JobBlobs(store, results, 8 * 1024);
    await blobs.putResult('job-c', 1, result(6 * 1024));
    assert.deepEqual(await objectNames(), ['result/job-c/1']);
    assert.deepEqual(await blobs.getResult('job-c', 1), result(6 * 1024));
  });

  it('deletes a result from either place', async () => {
    const blobs = new JobBlobs(store, results, nats.nc.info?.max_payload);
    await blobs.putResult('job-d', 1, result(10));
    await blobs.putResult('job-d', 2, result(600 * 1024));
    await blobs.deleteResult('job-d', 1);
    await blobs.deleteResult('job-d', 2);
    await blobs.deleteResult('job-d', 3);
    assert.equal(await blobs.getResult('job-d', 1), undefined);
    assert.equal(await blobs.getResult('job-d', 2), undefined);
    assert.deepEqual(await objectNames(), []);
  });
});
