import assert from 'node:assert/strict';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { ErrorCode, FaasError } from '../../common/errors.js';
import { useNatsServer } from '../../dev/nats-suite.js';
import { ActiveSlots, type ActiveEntry } from './active-slots.js';

describe('ActiveSlots', function () {
  this.timeout(30_000);
  const nats = useNatsServer();
  let kv: KV;
  let bucket = 0;

  beforeEach(async () => {
    kv = await new Kvm(jetstream(nats.nc)).create(`slots_${bucket++}`, { history: 1 });
  });

  const keep = async (active: ActiveEntry[]) => active;
  const stored = async (owner: string): Promise<string[]> => {
    const entry = await kv.get(`a.${Buffer.from(owner).toString('base64url')}`);
    return entry && entry.operation === 'PUT' ? entry.json<ActiveEntry[]>().map((item) => item.id).sort() : [];
  };
  const code = (result: PromiseSettledResult<void>) =>
    result.status === 'fulfilled' ? 'ok' : result.reason instanceof FaasError ? result.reason.code : String(result.reason);

  it('lists slot holders by owner', async () => {
    const slots = new ActiveSlots(kv, keep);
    await Promise.all([slots.reserve('alice', 'job-a1', 5), slots.reserve('alice', 'job-a2', 5), slots.reserve('bob@example.com', 'job-b1', 5)]);
    await slots.release('alice', 'job-a1');
    assert.deepEqual(await slots.list('alice'), [{ owner: 'alice', jobId: 'job-a2' }]);
    assert.deepEqual(await slots.list('carol'), []);
    const all = (await slots.list()).sort((a, b) => a.jobId.localeCompare(b.jobId));
    assert.deepEqual(all, [
      { owner: 'alice', jobId: 'job-a2' },
      { owner: 'bob@example.com', jobId: 'job-b1' },
    ]);
  });

  it('grants exactly the limit to 32 concurrent reservations', async () => {
    const slots = new ActiveSlots(kv, keep);
    const ids = Array.from({ length: 32 }, (_, index) => `job-${String(index).padStart(2, '0')}`);
    const results = await Promise.allSettled(ids.map((id) => slots.reserve('alice', id, 20)));
    assert.equal(results.filter((result) => code(result) === 'ok').length, 20);
    assert.equal(results.filter((result) => code(result) === ErrorCode.ResourceExhausted).length, 12);
    assert.equal((await stored('alice')).length, 20);
  });

  it('applies every concurrent release', async () => {
    const slots = new ActiveSlots(kv, keep);
    const ids = Array.from({ length: 40 }, (_, index) => `job-${index}`);
    await Promise.all(ids.map((id) => slots.reserve('bob', id, 100)));
    await Promise.all(ids.slice(0, 30).map((id) => slots.release('bob', id)));
    assert.deepEqual(await stored('bob'), ids.slice(30).sort());
  });

  it('shares one limit between two replicas', async () => {
    const first = new ActiveSlots(kv, keep);
    const second = new ActiveSlots(kv, keep);
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, index) => (index % 2 === 0 ? first : second).reserve('carol', `job-${index}`, 10)),
    );
    assert.equal(results.filter((result) => code(result) === 'ok').length, 10);
    assert.equal((await stored('carol')).length, 10);
  });

  it('frees the slots of finished jobs at the limit', async () => {
    const finished = new Set(['job-0', 'job-1']);
    const slots = new ActiveSlots(kv, async (active) => active.filter((item) => !finished.has(item.id)));
    for (const id of ['job-0', 'job-1', 'job-2']) await slots.reserve('dave', id, 3);
    await slots.reserve('dave', 'job-3', 3);
    assert.deepEqual(await stored('dave'), ['job-2', 'job-3']);
  });

  it('counts a repeated reservation once', async () => {
    const slots = new ActiveSlots(kv, keep);
    await slots.reserve('erin', 'job-0', 1);
    await slots.reserve('erin', 'job-0', 1);
    assert.deepEqual(await stored('erin'), ['job-0']);
  });

  it('reads an entry only when another replica changed it', async () => {
    let reads = 0;
    // The KV with its reads counted. Every other call goes to the real bucket.
    const counted = new Proxy(kv, {
      get(target, property, receiver) {
        if (property === 'get') return (...args: Parameters<KV['get']>) => (reads++, target.get(...args));
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const first = new ActiveSlots(counted, keep);
    const second = new ActiveSlots(kv, keep);
    await first.reserve('frank', 'job-0', 10);
    const afterFirst = reads;
    await first.reserve('frank', 'job-1', 10);
    await first.release('frank', 'job-0');
    assert.equal(reads, afterFirst, 'changes after its own write read nothing');

    // The other replica's write makes the remembered revision stale, which costs one failed write and one read.
    await second.reserve('frank', 'job-2', 10);
    await first.reserve('frank', 'job-3', 10);
    assert.equal(reads, afterFirst + 1);
    assert.deepEqual(await stored('frank'), ['job-1', 'job-2', 'job-3']);
    await first.reserve('frank', 'job-4', 3).then(
      () => assert.fail('the fourth job went over the limit'),
      (error: FaasError) => assert.equal(error.code, ErrorCode.ResourceExhausted),
    );
  });
});
