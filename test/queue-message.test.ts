import assert from 'node:assert/strict';
import { Job, JobState } from '../gen/faas/v1/job.js';
import { carriedRecord, carriedRecordMaxAgeMs, type QueuedJobMessage } from '../services/scheduler/dispatcher.js';
import { Mesh, finalRecord, waitFor } from './harness.js';

describe('queue messages', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
  });
  after(async () => {
    await mesh?.stop();
  });

  /** Returns the body of the oldest message waiting in the job queue. */
  const firstQueued = async (): Promise<QueuedJobMessage> => {
    const { jsm, names } = mesh.scheduler.context.nats;
    const info = await jsm.streams.info(names.jobStream);
    const message = await jsm.streams.getMessage(names.jobStream, { seq: info.state.first_seq });
    return message!.json<QueuedJobMessage>();
  };

  it('carries the stored record', async () => {
    const repository = await mesh.repository({ 'main.sh': 'echo carried\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repository.url });
    const body = await firstQueued();
    assert.equal(body.jobId, job!.id);
    const stored = await mesh.scheduler.context.store.get(job!.id);
    assert.equal(body.revision, stored!.revision);
    assert.deepEqual(Job.decode(Buffer.from(body.record!, 'base64')), stored!.job);
    await mesh.client.cancel(job!.id);
  });

  it('keeps a cancelled job cancelled', async () => {
    const repository = await mesh.repository({ 'main.sh': 'echo never\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repository.url });
    await mesh.client.cancel(job!.id);
    // The message still carries the QUEUED record, and a worker takes it while it is fresh.
    await mesh.addWorker();
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.state, JobState.JOB_STATE_CANCELLED);
    assert.equal(done.attempt, 0, 'the cancelled job started');
    const { jsm, names } = mesh.scheduler.context.nats;
    await waitFor(async () => {
      const consumer = await jsm.consumers.info(names.jobStream, names.dispatchConsumer);
      return consumer.num_pending === 0 && consumer.num_ack_pending === 0;
    }, 10_000, 'the queue message acknowledged');
  });
});

describe('carriedRecord', () => {
  const job = Job.fromPartial({ id: 'job-1', state: JobState.JOB_STATE_QUEUED, owner: 'alice' });
  const body: QueuedJobMessage = { jobId: 'job-1', revision: 7, record: Buffer.from(Job.encode(job).finish()).toString('base64') };

  it('uses a fresh first delivery', () => {
    assert.deepEqual(carriedRecord(body, 1, 10), { job, revision: 7 });
  });

  it('reads again otherwise', () => {
    assert.equal(carriedRecord(body, 2, 10), undefined, 'a redelivery');
    assert.equal(carriedRecord(body, 1, carriedRecordMaxAgeMs), undefined, 'an old message');
    assert.equal(carriedRecord({ jobId: 'job-1' }, 1, 10), undefined, 'a message without a record');
    assert.equal(carriedRecord({ ...body, jobId: 'job-2' }, 1, 10), undefined, 'a record of another job');
    assert.equal(carriedRecord({ ...body, record: '!!!' }, 1, 10), undefined, 'a record that cannot be read');
  });
});
