import assert from 'node:assert/strict';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, headers } from '@nats-io/transport-node';
import { pino } from 'pino';
import { Job, JobPhase, JobState } from '../../gen/faas/v1/job.js';
import { natsNames, type NatsNames } from '../../common/nats-names.js';
import { useNatsServer } from '../../dev/nats-suite.js';
import { RecentRecords } from './recent-records.js';
import { RecordFeed } from './record-feed.js';

describe('RecordFeed', function () {
  this.timeout(30_000);
  const nats = useNatsServer({ maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  let jsm: JetStreamManager;
  let names: NatsNames;
  let kv: KV;
  let feed: RecordFeed;
  let prefixes = 0;

  before(async () => {
    jsm = await jetstreamManager(nats.nc);
  });
  beforeEach(async () => {
    names = natsNames(`feed${prefixes++}`);
    kv = await new Kvm(jetstream(nats.nc)).create(names.jobsBucket, {
      history: 32,
      republish: { src: `$KV.${names.jobsBucket}.>`, dest: `${names.recordSubjectPrefix}.>` },
    });
    feed = new RecordFeed(nats.nc, jsm, names, pino({ level: 'silent' }));
  });

  const record = (id: string, state: JobState, phase = JobPhase.JOB_PHASE_UNSPECIFIED) =>
    Job.encode(Job.fromPartial({ id, owner: 'alice', state, phase })).finish();
  /** Follows `jobId` and collects what it sends, as "STATE/PHASE" strings. */
  const follow = (jobId: string, signal = new AbortController().signal, ready?: Promise<unknown>) => {
    const seen: string[] = [];
    const done = feed.follow({
      jobId,
      signal,
      ready,
      send: async (job) => {
        seen.push(`${JobState[job.state]}/${JobPhase[job.phase]}`);
      },
    });
    return { seen, done };
  };
  const queued = 'JOB_STATE_QUEUED/JOB_PHASE_UNSPECIFIED';
  const cloning = 'JOB_STATE_RUNNING/JOB_PHASE_CLONING';
  const running = 'JOB_STATE_RUNNING/JOB_PHASE_RUNNING';
  const succeeded = 'JOB_STATE_SUCCEEDED/JOB_PHASE_UNSPECIFIED';
  const until = async (check: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the follower');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  it('sends history, then changes, then ends', async () => {
    const first = await kv.create('job-a', record('job-a', JobState.JOB_STATE_QUEUED));
    const second = await kv.update('job-a', record('job-a', JobState.JOB_STATE_RUNNING, JobPhase.JOB_PHASE_CLONING), first);
    const { seen, done } = follow('job-a');
    await until(() => seen.length === 2);
    const third = await kv.update('job-a', record('job-a', JobState.JOB_STATE_RUNNING, JobPhase.JOB_PHASE_RUNNING), second);
    await kv.update('job-a', record('job-a', JobState.JOB_STATE_SUCCEEDED), third);
    await done;
    assert.deepEqual(seen, [queued, cloning, running, succeeded]);
  });

  it('misses no version during start-up', async () => {
    let revision = await kv.create('job-b', record('job-b', JobState.JOB_STATE_QUEUED));
    const { seen, done } = follow('job-b');
    for (let index = 0; index < 20; index++) {
      revision = await kv.update('job-b', record('job-b', JobState.JOB_STATE_RUNNING, JobPhase.JOB_PHASE_RUNNING), revision);
    }
    await kv.update('job-b', record('job-b', JobState.JOB_STATE_SUCCEEDED), revision);
    await done;
    assert.deepEqual(seen, [queued, ...Array<string>(20).fill(running), succeeded]);
  });

  it('rereads the stream after a gap', async () => {
    const first = await kv.create('job-c', record('job-c', JobState.JOB_STATE_QUEUED));
    const { seen, done } = follow('job-c');
    await until(() => seen.length === 1);
    // A message whose predecessor the follower never saw; its payload was never stored.
    const forged = headers();
    forged.set('Nats-Sequence', '9000');
    forged.set('Nats-Last-Sequence', '8999');
    nats.nc.publish(names.recordSubject('job-c'), record('job-c', JobState.JOB_STATE_FAILED), { headers: forged });
    await nats.nc.flush();
    await kv.update('job-c', record('job-c', JobState.JOB_STATE_SUCCEEDED), first);
    await done;
    assert.deepEqual(seen, [queued, succeeded]);
  });

  it('ends on deletion or a missing record', async () => {
    await kv.create('job-d', record('job-d', JobState.JOB_STATE_QUEUED));
    const { seen, done } = follow('job-d');
    await until(() => seen.length === 1);
    await kv.delete('job-d');
    await done;
    assert.deepEqual(seen, [queued]);

    const missing = follow('job-none');
    await missing.done;
    assert.deepEqual(missing.seen, []);
  });

  it('sends nothing when not ready', async () => {
    await kv.create('job-e', record('job-e', JobState.JOB_STATE_QUEUED));
    const notYours = Promise.reject(new Error('not yours'));
    notYours.catch(() => undefined);
    const { seen, done } = follow('job-e', undefined, notYours);
    await assert.rejects(done, /not yours/);
    assert.deepEqual(seen, []);
  });

  it('stops on abort', async () => {
    await kv.create('job-f', record('job-f', JobState.JOB_STATE_QUEUED));
    const controller = new AbortController();
    const { seen, done } = follow('job-f', controller.signal);
    await until(() => seen.length === 1);
    controller.abort();
    await done;
    assert.deepEqual(seen, [queued]);
  });

  /** Counts the direct gets by sequence on the job bucket's stream while `work` runs. */
  const countDirectGets = async (work: () => Promise<void>): Promise<number> => {
    let gets = 0;
    const spy = nats.nc.subscribe(`$JS.API.DIRECT.GET.KV_${names.jobsBucket}`, { callback: () => void gets++ });
    await nats.nc.flush();
    try {
      await work();
      await nats.nc.flush();
    } finally {
      spy.unsubscribe();
    }
    return gets;
  };

  it('reads written versions from memory', async () => {
    const recent = new RecentRecords(10);
    const remembered = new RecordFeed(nats.nc, jsm, names, pino({ level: 'silent' }), recent);
    const write = async (data: Uint8Array, previous: number) => {
      const seq = previous === 0 ? await kv.create('job-h', data) : await kv.update('job-h', data, previous);
      recent.remember('job-h', seq, previous, data);
      return seq;
    };
    const first = await write(record('job-h', JobState.JOB_STATE_QUEUED), 0);
    const second = await write(record('job-h', JobState.JOB_STATE_RUNNING, JobPhase.JOB_PHASE_CLONING), first);
    await write(record('job-h', JobState.JOB_STATE_SUCCEEDED), second);

    const seen: string[] = [];
    const send = async (job: Job) => void seen.push(`${JobState[job.state]}/${JobPhase[job.phase]}`);
    const gets = await countDirectGets(() => remembered.follow({ jobId: 'job-h', signal: new AbortController().signal, send }));
    assert.deepEqual(seen, [queued, cloning, succeeded]);
    assert.equal(gets, 0);
  });

  it('reads others\' versions from the stream', async () => {
    const recent = new RecentRecords(10);
    const remembered = new RecordFeed(nats.nc, jsm, names, pino({ level: 'silent' }), recent);
    const first = await kv.create('job-i', record('job-i', JobState.JOB_STATE_QUEUED));
    recent.remember('job-i', first, 0, record('job-i', JobState.JOB_STATE_QUEUED));
    // Written elsewhere: this replica does not know it.
    const second = await kv.update('job-i', record('job-i', JobState.JOB_STATE_RUNNING, JobPhase.JOB_PHASE_CLONING), first);
    const finished = record('job-i', JobState.JOB_STATE_SUCCEEDED);
    recent.remember('job-i', await kv.update('job-i', finished, second), second, finished);

    const seen: string[] = [];
    const send = async (job: Job) => void seen.push(`${JobState[job.state]}/${JobPhase[job.phase]}`);
    const gets = await countDirectGets(() => remembered.follow({ jobId: 'job-i', signal: new AbortController().signal, send }));
    assert.deepEqual(seen, [queued, cloning, succeeded]);
    assert.equal(gets, 1);
  });

  it('catches up after a NATS restart', async () => {
    // The follower reconnects 2 s after the restart, well after the writer stored its version, so only reading again after the reconnect finds it.
    const slow = await connect({ servers: nats.server.url, maxReconnectAttempts: -1, reconnectTimeWait: 2_000 });
    try {
      const slowFeed = new RecordFeed(slow, await jetstreamManager(slow), names, pino({ level: 'silent' }));
      slowFeed.start();
      const first = await kv.create('job-g', record('job-g', JobState.JOB_STATE_QUEUED));
      const seen: string[] = [];
      const done = slowFeed.follow({ jobId: 'job-g', signal: new AbortController().signal, send: async (job) => void seen.push(JobState[job.state]) });
      await until(() => seen.length === 1);
      await nats.server.kill();
      await nats.server.restart();
      const writer = await connect({ servers: nats.server.url });
      try {
        await (await new Kvm(jetstream(writer)).open(names.jobsBucket)).update('job-g', record('job-g', JobState.JOB_STATE_SUCCEEDED), first);
      } finally {
        await writer.close();
      }
      await done;
      assert.deepEqual(seen, ['JOB_STATE_QUEUED', 'JOB_STATE_SUCCEEDED']);
    } finally {
      await slow.close();
    }
  });
});
