import assert from 'node:assert/strict';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Job, JobState } from '../../gen/faas/v1/job.js';
import { newJobId } from '../../common/ids.js';
import { useNatsServer } from '../../dev/nats-suite.js';
import { ownerToken } from './active-slots.js';
import { FinishedIndex, idPrefixSpanMs, type IndexEntry } from './finished-index.js';

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;
const retentionMs = 7 * dayMs;

describe('FinishedIndex', function () {
  this.timeout(30_000);
  const nats = useNatsServer();
  let buckets = 0;


  /** Creates a bucket and an index on it, and records the subject filter of every listing. */
  async function newIndex(): Promise<{ kv: KV; index: FinishedIndex; listings: string[] }> {
    const bucket = `finished_${++buckets}`;
    const kv = await new Kvm(jetstream(nats.nc)).create(bucket, { history: 1 });
    const jsm = await jetstreamManager(nats.nc);
    const listings: string[] = [];
    const info = jsm.streams.info.bind(jsm.streams);
    jsm.streams.info = (name, request) => {
      if (request?.subjects_filter) listings.push(request.subjects_filter.slice(`$KV.${bucket}.`.length));
      return info(name, request);
    };
    return { kv, index: new FinishedIndex(kv, jsm, bucket, retentionMs), listings };
  }

  function finishedJob(owner: string, createdMs: number, state = JobState.JOB_STATE_SUCCEEDED): Job {
    return Job.fromPartial({ id: newJobId(createdMs), owner, state });
  }

  const ids = (entries: IndexEntry[]) => entries.map((entry) => entry.jobId);
  const sliceMarker = (job: Job) => `s.${ownerToken('alice')}.${job.id.slice(0, 5)}.${job.id.slice(5, 6)}`;
  const globalMarker = (job: Job) => `g.${job.id.slice(0, 5)}.${job.id.slice(5, 6)}`;
  const sliceMarkers = async (kv: KV, filter = 's.>') => {
    const keys: string[] = [];
    for await (const key of await kv.keys(filter)) keys.push(key);
    return keys.sort();
  };
  const jobIds = (jobs: Job[]) => jobs.map((job) => job.id);

  it('pages through an owner\'s jobs newest first, across slices and periods', async () => {
    const { index } = await newIndex();
    const nowMs = Date.now();
    const jobs: Job[] = [];
    // Three days of jobs every 40 minutes: several periods, most slices with one job.
    for (let ageMs = 0; ageMs < 3 * dayMs; ageMs += 40 * 60_000) {
      const state = jobs.length % 5 === 0 ? JobState.JOB_STATE_FAILED : JobState.JOB_STATE_SUCCEEDED;
      jobs.push(finishedJob('alice', nowMs - ageMs, state), finishedJob('bob', nowMs - ageMs - 1));
    }
    await Promise.all(jobs.map((job) => index.add(job, nowMs)));
    const alices = jobIds(jobs.filter((job) => job.owner === 'alice')).sort().reverse();

    const pages: string[] = [];
    let before: string | undefined;
    for (let page = 0; page < 100; page++) {
      const listed = (await index.list({ owner: 'alice', before, limit: 10 })).slice(0, 10);
      if (listed.length === 0) break;
      assert.ok(listed.every((entry) => entry.owner === 'alice' && entry.key !== undefined));
      pages.push(...ids(listed));
      before = listed.at(-1)!.jobId;
    }
    assert.deepEqual(pages, alices);

    const failed = await index.list({ owner: 'alice', state: JobState.JOB_STATE_FAILED, limit: 1000 });
    assert.deepEqual(ids(failed), jobIds(jobs.filter((job) => job.owner === 'alice' && job.state === JobState.JOB_STATE_FAILED)).sort().reverse());
    const everyone = await index.list({ limit: 1000 });
    assert.equal(everyone.length, jobs.length);
  });

  it('reads only the slices that fill the page', async () => {
    const { index, listings } = await newIndex();
    const nowMs = Date.now();
    const old = finishedJob('alice', nowMs - 2 * dayMs);
    // Two jobs in one slice, the newest.
    const sliceStartMs = idPrefixSpanMs(newJobId(nowMs).slice(0, 6)).startMs;
    const recent = [finishedJob('alice', sliceStartMs + 2), finishedJob('alice', sliceStartMs + 1)];
    for (const job of [old, ...recent]) await index.add(job, nowMs);

    listings.length = 0;
    const listed = await index.list({ owner: 'alice', limit: 2 });
    assert.deepEqual(ids(listed).slice(0, 2), jobIds(recent));
    const newestSlice = `f.${ownerToken('alice')}.${recent[0].id.slice(0, 5)}.${recent[0].id.slice(5, 6)}.*.*`;
    assert.deepEqual(listings.filter((filter) => filter.startsWith('f.')), [newestSlice]);

    // The next page goes back to the old slice.
    const next = await index.list({ owner: 'alice', before: recent[1].id, limit: 2 });
    assert.deepEqual(ids(next), [old.id]);
  });

  it('lists all owners through shared markers', async () => {
    const { index, listings } = await newIndex();
    const nowMs = Date.now();
    const jobs = [finishedJob('alice', nowMs - hourMs), finishedJob('bob', nowMs - 2 * hourMs), finishedJob('carol', nowMs - dayMs)];
    for (const job of jobs) await index.add(job, nowMs);

    listings.length = 0;
    assert.deepEqual(ids(await index.list({ limit: 10 })), jobIds(jobs));
    assert.ok(listings.includes('g.*.*'), listings.join(', '));
    assert.ok(!listings.some((filter) => filter.startsWith('s.')), listings.join(', '));
  });

  it('lists a sparse history at once', async () => {
    const { index, listings } = await newIndex();
    const nowMs = Date.now();
    const jobs = Array.from({ length: 30 }, (_, hour) => finishedJob('alice', nowMs - hour * hourMs));
    for (const job of jobs) await index.add(job, nowMs);

    listings.length = 0;
    const listed = await index.list({ owner: 'alice', limit: 50 });
    assert.deepEqual(ids(listed), jobIds(jobs));
    // The markers, the entries of earlier versions, the newest slice, then the rest in one listing.
    assert.equal(listings.length, 4, listings.join(', '));
  });

  it('lists and removes entries in the layout of earlier versions', async () => {
    const { kv, index } = await newIndex();
    const legacy = newJobId(Date.now() - hourMs);
    await kv.put(`o.${ownerToken('alice')}.FAILED.${legacy}`, new Uint8Array());
    const current = finishedJob('alice', Date.now());
    await index.add(current);

    const listed = await index.list({ owner: 'alice', limit: 10 });
    assert.deepEqual(ids(listed), [current.id, legacy]);
    assert.equal(listed[1].state, JobState.JOB_STATE_FAILED);
    await index.remove(listed[1]);
    assert.deepEqual(ids(await index.list({ owner: 'alice', limit: 10 })), [current.id]);
  });

  it('names the jobs created before a time, for the retention sweep', async () => {
    const { index } = await newIndex();
    const nowMs = Date.now();
    const old = [finishedJob('alice', nowMs - 9 * dayMs), finishedJob('bob', nowMs - 8 * dayMs)];
    const young = [finishedJob('alice', nowMs - 6 * dayMs), finishedJob('bob', nowMs)];
    for (const job of [...old, ...young]) await index.add(job, nowMs);

    const candidates = await index.createdBefore(nowMs - retentionMs);
    assert.deepEqual(ids(candidates).sort(), jobIds(old).sort());
  });

  it('drops empty markers of old slices', async () => {
    const { kv, index } = await newIndex();
    const nowMs = Date.now();
    const emptied = finishedJob('alice', nowMs - 10 * dayMs);
    const withEntry = finishedJob('alice', nowMs - 9 * dayMs);
    const young = finishedJob('alice', nowMs - hourMs);
    for (const job of [emptied, withEntry, young]) await index.add(job, nowMs);

    const [emptiedEntry] = (await index.list({ owner: 'alice', limit: 10 })).filter((entry) => entry.jobId === emptied.id);
    await index.remove(emptiedEntry);
    // The owner's marker and the marker for all owners.
    assert.equal(await index.dropEmptyMarkers(nowMs - retentionMs), 2);
    assert.deepEqual(await sliceMarkers(kv), [sliceMarker(withEntry), sliceMarker(young)].sort());
    assert.deepEqual(await sliceMarkers(kv, 'g.>'), [globalMarker(withEntry), globalMarker(young)].sort());
  });

  it('writes a marker again after another replica dropped it', async () => {
    const { kv, index } = await newIndex();
    const sweeper = new FinishedIndex(kv, await jetstreamManager(nats.nc), `finished_${buckets}`, retentionMs);
    const nowMs = Date.now();
    const first = finishedJob('alice', nowMs - hourMs);
    await index.add(first, nowMs);
    const [entry] = await index.list({ owner: 'alice', limit: 10 });
    await index.remove(entry);
    // Eight days later the slice is past the retention, and the other replica drops its marker.
    const laterMs = nowMs + 8 * dayMs;
    assert.equal(await sweeper.dropEmptyMarkers(laterMs - retentionMs), 2);

    // A job of that slice that finishes only now, on the replica that wrote the marker first.
    const late = Job.fromPartial({ id: `${first.id.slice(0, 10)}${newJobId().slice(10)}`, owner: 'alice', state: JobState.JOB_STATE_FAILED });
    await index.add(late, laterMs);
    assert.deepEqual(await sliceMarkers(kv), [sliceMarker(late)]);
    assert.deepEqual(await sliceMarkers(kv, 'g.>'), [globalMarker(late)]);
    assert.deepEqual(ids(await index.list({ owner: 'alice', limit: 10 })), [late.id]);
    assert.deepEqual(ids(await index.list({ limit: 10 })), [late.id]);
  });

  it('writes markers before the first entry', async () => {
    const { kv } = await newIndex();
    const puts: string[] = [];
    const put = kv.put.bind(kv);
    kv.put = (key, value, options) => {
      puts.push(key.split('.')[0]);
      return put(key, value, options);
    };
    const index = new FinishedIndex(kv, await jetstreamManager(nats.nc), `finished_${buckets}`, retentionMs);
    const nowMs = Date.now();
    const sliceStartMs = idPrefixSpanMs(newJobId(nowMs).slice(0, 6)).startMs;
    await index.add(finishedJob('alice', sliceStartMs + 1), nowMs);
    await index.add(finishedJob('alice', sliceStartMs + 2), nowMs);
    assert.deepEqual(puts, ['s', 'g', 'f', 'f']);

    // In a slice past half the retention, the markers are written again after the entry.
    puts.length = 0;
    await index.add(finishedJob('alice', nowMs - 5 * dayMs), nowMs);
    assert.deepEqual(puts, ['s', 'g', 'f', 's', 'g']);
  });

  it('computes the time a prefix of a job id covers', () => {
    const createdMs = Date.UTC(2026, 11, 5, 12, 0, 0);
    const id = newJobId(createdMs);
    const slice = idPrefixSpanMs(id.slice(0, 6));
    assert.ok(slice.startMs <= createdMs);
    assert.ok(createdMs <= slice.endMs);
    assert.equal(slice.endMs - slice.startMs + 1, 2 ** 20);
    assert.equal(idPrefixSpanMs(id.slice(0, 10)).startMs, createdMs);
  });
});
