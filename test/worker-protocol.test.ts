import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevCertificates } from '../dev/certificates.js';
import { credentials, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { FailureReason, JobPhase, JobResult, JobState, LogStream } from '../gen/faas/v1/job.js';
import { recordLimits } from '../common/limits.js';
import {
  WorkerServiceClient,
  type ConnectRequest,
  type ConnectResponse,
} from '../gen/faas/worker/v1/worker_service.js';
import { meshChannelCredentials, meshChannelOptions, readMeshTls } from '../common/tls.js';
import { Mesh, finalRecord, waitFor } from './harness.js';

type WorkerStream = ClientDuplexStream<ConnectRequest, ConnectResponse>;

/** Opens a worker stream by hand, speaking the protocol directly. */
function openStream(
  mesh: Mesh,
  channel: ChannelCredentials = meshChannelCredentials(readMeshTls(mesh.certificates.env('worker'))),
): { client: WorkerServiceClient; stream: WorkerStream; messages: ConnectResponse[]; ended: Promise<ServiceError | undefined> } {
  const client = new WorkerServiceClient(mesh.scheduler.address, channel, meshChannelOptions(readMeshTls(mesh.certificates.env('worker')), mesh.scheduler.address));
  const stream = client.connect();
  const messages: ConnectResponse[] = [];
  stream.on('data', (message: ConnectResponse) => messages.push(message));
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    stream.on('error', (error: ServiceError) => resolve(error));
    stream.on('end', () => resolve(undefined));
  });
  return { client, stream, messages, ended };
}

/** Ends a stream from `openStream`, waits for the scheduler to end its side, and closes the client. */
async function closeStream(opened: ReturnType<typeof openStream>): Promise<void> {
  opened.stream.end();
  await opened.ended;
  opened.client.close();
}

describe('worker protocol', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('rejects a worker without a client certificate', async () => {
    const { client, stream, ended } = openStream(mesh, credentials.createInsecure());
    stream.write({ hello: { workerId: 'no-certificate', protocolVersion: 1, slots: 1, hostname: 'test', running: [] } });
    const error = await ended;
    client.close();
    assert.equal(error?.code, 14, `expected UNAVAILABLE, got ${error?.code} ${error?.details}`);
    assert.equal(mesh.scheduler.context.pool.has('no-certificate'), false);
  });

  it('rejects a worker whose certificate another CA signed', async () => {
    const foreignDir = await mkdtemp(join(tmpdir(), 'faas-foreign-ca-'));
    const foreign = await ensureDevCertificates(foreignDir);
    const channel = meshChannelCredentials(readMeshTls(foreign.env('worker')));
    await rm(foreignDir, { recursive: true, force: true });
    const { client, stream, ended } = openStream(mesh, channel);
    stream.write({ hello: { workerId: 'foreign-ca', protocolVersion: 1, slots: 1, hostname: 'test', running: [] } });
    const error = await ended;
    client.close();
    assert.equal(error?.code, 14, `expected UNAVAILABLE, got ${error?.code} ${error?.details}`);
    assert.equal(mesh.scheduler.context.pool.has('foreign-ca'), false);
  });

  it('rejects an incompatible protocol version', async () => {
    const { client, stream, ended } = openStream(mesh);
    stream.write({ hello: { workerId: 'old-worker', protocolVersion: 99, slots: 1, hostname: 'test', running: [] } });
    const error = await ended;
    client.close();
    assert.equal(error?.code, 9, 'FAILED_PRECONDITION');
    assert.match(error!.details, /version 99 is not supported; this scheduler speaks version 1/);
  });

  it('requires hello first', async () => {
    const { client, stream, ended } = openStream(mesh);
    stream.write({ heartbeat: { runningJobIds: [], draining: false } });
    const error = await ended;
    client.close();
    assert.equal(error?.code, 3, 'INVALID_ARGUMENT');
    assert.match(error!.details, /first message/);
  });

  it('rejects invalid slots', async () => {
    const bad = openStream(mesh);
    bad.stream.write({ hello: { workerId: 'w-slots', protocolVersion: 1, slots: 0, hostname: 'test', running: [] } });
    assert.match((await bad.ended)!.details, /hello\.slots is 0; use 1 to 64/);
    bad.client.close();
  });

  it('cuts an outcome error message to size', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo unused\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const jobId = job!.id;
    const scripted = openStream(mesh);
    try {
      scripted.stream.write({ hello: { workerId: 'w-long-error', protocolVersion: 1, slots: 1, hostname: 'test', running: [] } });
      await waitFor(() => scripted.messages.some((m) => m.assignment?.jobId === jobId), 10_000, 'assignment');
      scripted.stream.write({ update: { jobId, attempt: 1, phase: JobPhase.JOB_PHASE_CLONING, commitSha: '', traceContext: {}, entrypoint: '' } });
      await waitFor(async () => (await mesh.client.status(jobId)).state === JobState.JOB_STATE_RUNNING, 5_000, 'RUNNING');
      // A git server can make the last line of git's output this long. Whole, it would not fit in a NATS message.
      const message = `could not fetch ${repo.url}: ${'remote: padding '.repeat(150_000)}`;
      const error = { reason: FailureReason.FAILURE_REASON_CLONE_FAILED, message };
      scripted.stream.write({ outcome: { jobId, attempt: 1, state: JobState.JOB_STATE_FAILED, error, commitSha: '', platformFailure: false, traceContext: {} } });

      const done = await finalRecord(mesh, jobId);
      assert.equal(done.state, JobState.JOB_STATE_FAILED);
      assert.equal(done.attempt, 1);
      assert.equal(done.error!.message.startsWith(`could not fetch ${repo.url}: remote: padding`), true);
      assert.ok(Buffer.byteLength(done.error!.message) <= recordLimits.errorMessageBytes, `${Buffer.byteLength(done.error!.message)} bytes`);
      assert.match(done.error!.message, /\(cut from 2400\d{3} bytes\)$/);
    } finally {
      await closeStream(scripted);
    }
  });

  it('skips a phase a later report supersedes', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo unused\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const jobId = job!.id;
    const scripted = openStream(mesh);
    try {
      scripted.stream.write({ hello: { workerId: 'w-quick-job', protocolVersion: 1, slots: 1, hostname: 'test', running: [] } });
      await waitFor(() => scripted.messages.some((m) => m.assignment?.jobId === jobId), 10_000, 'assignment');
      const report = (phase: JobPhase) => ({ update: { jobId, attempt: 1, phase, commitSha: repo.commitSha, traceContext: {}, entrypoint: '' } });
      scripted.stream.write(report(JobPhase.JOB_PHASE_CLONING));
      await waitFor(async () => (await mesh.client.status(jobId)).state === JobState.JOB_STATE_RUNNING, 5_000, 'RUNNING');
      // Storing 2 MiB of output takes sixteen publishes, one after another, and
      // the reports after it wait. Meanwhile the outcome arrives.
      const output = Buffer.alloc(2 * 1024 * 1024, 'x');
      scripted.stream.write({ log: { jobId, attempt: 1, stream: LogStream.LOG_STREAM_STDOUT, data: output } });
      scripted.stream.write(report(JobPhase.JOB_PHASE_RUNNING));
      scripted.stream.write({ outcome: { jobId, attempt: 1, state: JobState.JOB_STATE_SUCCEEDED, commitSha: repo.commitSha, platformFailure: false, traceContext: {} } });

      const done = await finalRecord(mesh, jobId);
      assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED);
      assert.equal(done.commitSha, repo.commitSha);
      const versions: Array<[JobState, JobPhase]> = [];
      for await (const version of mesh.client.watch(jobId)) versions.push([version.state, version.phase]);
      assert.deepEqual(versions, [
        [JobState.JOB_STATE_QUEUED, JobPhase.JOB_PHASE_UNSPECIFIED],
        [JobState.JOB_STATE_RUNNING, JobPhase.JOB_PHASE_CLONING],
        [JobState.JOB_STATE_SUCCEEDED, JobPhase.JOB_PHASE_UNSPECIFIED],
      ]);
    } finally {
      await closeStream(scripted);
    }
  });

  it('hands a job back when its outcome cannot be stored', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo unused\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const jobId = job!.id;
    const { jsm, names } = mesh.scheduler.context.nats;
    const resultsStream = `KV_${names.resultsBucket}`;
    const scripted = openStream(mesh);
    const assignment = async (attempt: number) => {
      await waitFor(() => scripted.messages.some((m) => m.assignment?.jobId === jobId && m.assignment.attempt === attempt), 15_000, `attempt ${attempt}`);
    };
    const finish = (attempt: number) => {
      scripted.stream.write({ update: { jobId, attempt, phase: JobPhase.JOB_PHASE_RUNNING, commitSha: '', traceContext: {}, entrypoint: '' } });
      const result = JobResult.fromPartial({ exitCode: 0, stdout: Buffer.from(`attempt ${attempt}\n`) });
      scripted.stream.write({ outcome: { jobId, attempt, state: JobState.JOB_STATE_SUCCEEDED, result, commitSha: '', platformFailure: false, traceContext: {} } });
    };
    const config = (await jsm.streams.info(resultsStream)).config;
    try {
      scripted.stream.write({ hello: { workerId: 'w-unstored', protocolVersion: 1, slots: 1, hostname: 'test', running: [] } });
      await assignment(1);
      // The results bucket now refuses every result, as a full or broken stream would.
      await jsm.streams.update(resultsStream, { ...config, max_msg_size: 8 });
      finish(1);

      await assignment(2).catch(async (error: unknown) => {
        throw new Error(`${String(error)}; the job is ${JSON.stringify(await mesh.client.status(jobId))}`);
      });
      await jsm.streams.update(resultsStream, config);
      finish(2);
      const done = await finalRecord(mesh, jobId);
      assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED);
      assert.equal(done.attempt, 2);
      assert.equal((await mesh.client.result(jobId)).result!.stdout.toString(), 'attempt 2\n');
    } finally {
      await jsm.streams.update(resultsStream, config);
      await closeStream(scripted);
    }
  });

  /** Returns the hello of hand-made worker `workerId`, listing the jobs it kept running. */
  function helloOf(workerId: string, running: Array<{ jobId: string; attempt: number; lease: string }> = []) {
    return { hello: { workerId, protocolVersion: 1, slots: 1, hostname: 'test', running } };
  }

  /** Has hand-made worker `workerId` take a new job, accept it and write "abc", which the scheduler stores. */
  async function startJobByHand(workerId: string) {
    const repo = await mesh.repository({ 'main.sh': 'echo unused\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const jobId = job!.id;
    const first = openStream(mesh);
    first.stream.write(helloOf(workerId));
    await waitFor(() => first.messages.some((m) => m.assignment), 10_000, 'assignment');
    const assignment = first.messages.find((m) => m.assignment)!.assignment!;
    first.stream.write({ update: { jobId, attempt: 1, phase: JobPhase.JOB_PHASE_CLONING, commitSha: '', traceContext: {}, entrypoint: '' } });
    await waitFor(async () => (await mesh.client.status(jobId)).state === JobState.JOB_STATE_RUNNING, 5_000, 'RUNNING');
    first.stream.write({ log: { jobId, attempt: 1, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('abc') } });
    await waitFor(async () => (await mesh.client.logs(jobId).next()).value?.data.toString() === 'abc', 5_000, 'the output to be stored');
    return { jobId, first, assignment };
  }

  /** Finishes a job taken over on `stream` after "abc": writes "def" and the outcome, and checks that attempt 1 stored both. */
  async function finishTakenOverJob(stream: WorkerStream, jobId: string): Promise<void> {
    stream.write({ log: { jobId, attempt: 1, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('def') } });
    const result = { exitCode: 0, stdout: Buffer.from('abcdef'), stderr: Buffer.alloc(0) };
    stream.write({ outcome: { jobId, attempt: 1, state: JobState.JOB_STATE_SUCCEEDED, result: JobResult.fromPartial(result), commitSha: '', platformFailure: false, traceContext: {} } });
    const done = await finalRecord(mesh, jobId);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED);
    assert.equal(done.attempt, 1);
    const logged: Buffer[] = [];
    for await (const chunk of mesh.client.logs(jobId)) logged.push(chunk.data);
    assert.equal(Buffer.concat(logged).toString(), 'abcdef');
  }

  it('adopts the jobs of a returning worker', async () => {
    const { jobId, first, assignment } = await startJobByHand('w-returning');
    assert.match(assignment.lease, /^\$JS\.ACK\./, 'the lease is the ack subject of the queue message');
    assert.equal(first.messages.find((m) => m.hello)!.hello!.adoptionGraceMs, mesh.scheduler.context.config.adoptionGraceMs);
    first.stream.cancel();
    await first.ended;
    first.client.close();
    await waitFor(() => !mesh.scheduler.context.pool.has('w-returning'), 5_000, 'the scheduler to notice');

    const second = openStream(mesh);
    try {
      second.stream.write(
        helloOf('w-returning', [
          { jobId, attempt: 1, lease: assignment.lease },
          { jobId: 'j-not-a-job-of-this-worker', attempt: 1, lease: '$JS.ACK.ELSEWHERE.other.1.1.1.1.0' },
        ]),
      );
      await waitFor(() => second.messages.some((m) => m.adoption) && second.messages.some((m) => m.cancellation), 10_000, 'the answers');
      assert.deepEqual(second.messages.find((m) => m.adoption)!.adoption, { jobId, attempt: 1, outputOffset: 3 });
      assert.match(second.messages.find((m) => m.cancellation)!.cancellation!.reason, /lease does not name a queue message/);
      await finishTakenOverJob(second.stream, jobId);
    } finally {
      await closeStream(second);
    }
  });

  it('replaces a silent stream of the same worker', async () => {
    const { jobId, first, assignment } = await startJobByHand('w-replaced');
    const { heartbeatIntervalMs } = mesh.scheduler.context.config;
    const running = [{ jobId, attempt: 1, lease: assignment.lease }];

    // While the first stream sends heartbeats, a second process with its id is turned away.
    // The worker drains, which must not stop its new stream from taking its job over.
    first.stream.write({ heartbeat: { runningJobIds: [jobId], draining: true } });
    await sleep(50);
    const duplicate = openStream(mesh);
    duplicate.stream.write(helloOf('w-replaced', running));
    const turnedAway = await duplicate.ended;
    duplicate.client.close();
    assert.equal(turnedAway?.code, 6, 'ALREADY_EXISTS');
    assert.match(turnedAway!.details, /a worker with id w-replaced is connected and sends heartbeats; give every worker process its own WORKER_ID/);

    // The worker's side of the first stream broke while the scheduler's side still looks open, and silent.
    await sleep(heartbeatIntervalMs + 100);
    const second = openStream(mesh);
    try {
      second.stream.write(helloOf('w-replaced', running));
      const replaced = await first.ended;
      assert.equal(replaced?.code, 10, 'ABORTED');
      assert.equal(replaced!.details, 'a new stream of worker w-replaced replaced this one');
      first.client.close();
      await waitFor(() => second.messages.some((m) => m.adoption || m.cancellation), 10_000, 'the answer');
      assert.deepEqual(second.messages.find((m) => m.adoption)?.adoption, { jobId, attempt: 1, outputOffset: 3 });
      await finishTakenOverJob(second.stream, jobId);
    } finally {
      await closeStream(second);
    }
  });

  it('requeues the job of a worker that disconnects mid-job', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo "ran on a real worker"\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });

    // A hand-made worker accepts the job and then goes away.
    const lost = openStream(mesh);
    lost.stream.write({ hello: { workerId: 'w-lost', protocolVersion: 1, slots: 1, hostname: 'test', running: [] } });
    await waitFor(() => lost.messages.some((m) => m.assignment), 10_000, 'assignment');
    const assignment = lost.messages.find((m) => m.assignment)!.assignment!;
    assert.equal(assignment.jobId, job!.id);
    assert.equal(assignment.attempt, 1);
    // The worker may reuse a ref lookup made after this moment.
    assert.equal(assignment.submittedAt?.getTime(), job!.createdAt?.getTime());
    lost.stream.write({ update: { jobId: job!.id, attempt: 1, phase: JobPhase.JOB_PHASE_CLONING, commitSha: '', traceContext: {}, entrypoint: '' } });
    await waitFor(async () => (await mesh.client.status(job!.id)).state === JobState.JOB_STATE_RUNNING, 5_000, 'RUNNING');
    await closeStream(lost);

    await mesh.addWorker();
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
    assert.equal(done.attempt, 2);
    const { result } = await mesh.client.result(job!.id);
    assert.equal(result!.stdout.toString(), 'ran on a real worker\n');
  });

  it('ignores reports from a superseded attempt', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo fine\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED);

    // A late worker reports a different outcome for attempt 1 of a finished job.
    const late = openStream(mesh);
    late.stream.write({ hello: { workerId: 'w-late', protocolVersion: 1, slots: 1, hostname: 'test', running: [] } });
    await waitFor(() => late.messages.length > 0, 5_000, 'scheduler hello');
    late.stream.write({
      outcome: { jobId: job!.id, attempt: done.attempt, state: JobState.JOB_STATE_FAILED, commitSha: '', platformFailure: false, traceContext: {} },
    });
    await closeStream(late);
    const status = await mesh.client.status(job!.id);
    assert.equal(status.state, JobState.JOB_STATE_SUCCEEDED);
  });
});
