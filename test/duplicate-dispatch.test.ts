import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { JobPhase, JobState, LogStream } from '../gen/faas/v1/job.js';
import type { LogsResponse } from '../gen/faas/v1/job_service.js';
import {
  WorkerServiceClient,
  type ConnectRequest,
  type ConnectResponse,
} from '../gen/faas/worker/v1/worker_service.js';
import { meshChannelCredentials, meshChannelOptions, readMeshTls } from '../common/tls.js';
import { Mesh, assertContiguousLog, finalRecord, waitFor } from './harness.js';

/** Returns a WorkerService client with the worker's mesh certificate. */
function workerClient(mesh: Mesh): WorkerServiceClient {
  const tls = readMeshTls(mesh.certificates.env('worker'));
  return new WorkerServiceClient(mesh.scheduler.address, meshChannelCredentials(tls), meshChannelOptions(tls, mesh.scheduler.address));
}

/** A worker stream driven by the test, speaking the protocol directly. */
interface ScriptedWorker {
  client: WorkerServiceClient;
  stream: ClientDuplexStream<ConnectRequest, ConnectResponse>;
  messages: ConnectResponse[];
  ended: Promise<void>;
  heartbeat: NodeJS.Timeout;
}

const openWorkers: ScriptedWorker[] = [];

function connectWorker(mesh: Mesh, workerId: string, slots: number): ScriptedWorker {
  const client = workerClient(mesh);
  const stream = client.connect();
  const messages: ConnectResponse[] = [];
  stream.on('data', (message: ConnectResponse) => messages.push(message));
  const ended = new Promise<void>((resolve) => {
    stream.on('error', () => resolve());
    stream.on('end', () => resolve());
  });
  stream.write({ hello: { workerId, protocolVersion: 1, slots, hostname: 'test', running: [] } });
  // The mesh drops a worker that is silent for 3 heartbeat intervals of 500 ms.
  const heartbeat = setInterval(() => stream.write({ heartbeat: { runningJobIds: [], draining: false } }), 200);
  const worker = { client, stream, messages, ended, heartbeat };
  openWorkers.push(worker);
  return worker;
}

async function closeWorker(worker: ScriptedWorker): Promise<void> {
  clearInterval(worker.heartbeat);
  worker.stream.end();
  await Promise.race([worker.ended, delay(5_000)]);
  worker.client.close();
}

function assignmentsOf(worker: ScriptedWorker, jobId: string) {
  return worker.messages.filter((m) => m.assignment?.jobId === jobId).map((m) => m.assignment!);
}

async function logChunks(mesh: Mesh, jobId: string): Promise<LogsResponse[]> {
  const chunks: LogsResponse[] = [];
  for await (const chunk of mesh.client.logs(jobId)) chunks.push(chunk);
  return chunks;
}

// A retried Submit with the same idempotency key publishes the job's queue
// message again while the job is QUEUED. Once JetStream's duplicate window
// has passed (2 minutes by default, 1 s here to keep the test short), that
// gives one job two queue messages. Both are dispatched while the record is
// still QUEUED, so two workers get attempt 1 of the same job.
describe('job with two queue messages', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  beforeEach(async () => {
    mesh = await Mesh.start({ workers: 0, scheduler: { duplicateWindowMs: 1_000 } });
  });
  afterEach(async () => {
    for (const worker of openWorkers.splice(0)) await closeWorker(worker);
    await mesh?.stop();
  });

  async function submitTwice(key: string): Promise<string> {
    const repo = await mesh.repository({ 'main.sh': 'echo unused\n' });
    const spec = { repositoryUrl: repo.url, idempotencyKey: key };
    const first = await mesh.client.submit(spec);
    await delay(1_500);
    const second = await mesh.client.submit(spec);
    assert.equal(second.job!.id, first.job!.id);
    assert.equal(second.existing, true);
    return first.job!.id;
  }

  it('runs on one worker only', async () => {
    const jobId = await submitTwice('retry-after-window');

    const first = connectWorker(mesh, 'scripted-a', 1);
    await waitFor(() => assignmentsOf(first, jobId).length > 0, 10_000, 'assignment to the first worker');
    const second = connectWorker(mesh, 'scripted-b', 1);
    // The second queue message is pulled as soon as the second worker adds a slot.
    await delay(3_000);
    const secondAssigned = assignmentsOf(second, jobId).length > 0;

    first.stream.write({ update: { jobId, attempt: 1, phase: JobPhase.JOB_PHASE_CLONING, commitSha: '', traceContext: {}, entrypoint: '' } });
    await waitFor(async () => (await mesh.client.status(jobId)).state === JobState.JOB_STATE_RUNNING, 5_000, 'RUNNING');
    first.stream.write({ log: { jobId, attempt: 1, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('from first\n') } });

    if (secondAssigned) {
      // The second worker accepts the copy it was given and writes output.
      second.stream.write({ update: { jobId, attempt: 1, phase: JobPhase.JOB_PHASE_CLONING, commitSha: '', traceContext: {}, entrypoint: '' } });
      second.stream.write({ log: { jobId, attempt: 1, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('from second\n') } });
      const cancelled = () => second.messages.some((m) => m.cancellation?.jobId === jobId);
      const logged = async () => (await logChunks(mesh, jobId)).some((c) => c.data.toString() === 'from second\n');
      await waitFor(async () => cancelled() || (await logged()), 10_000, 'the second copy to be cancelled or logged');
    }

    first.stream.write({ outcome: { jobId, attempt: 1, state: JobState.JOB_STATE_SUCCEEDED, commitSha: '', platformFailure: false, traceContext: {} } });
    const done = await finalRecord(mesh, jobId);
    const chunks = await logChunks(mesh, jobId);

    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED);
    assert.equal(done.workerId, 'scripted-a');
    assert.equal(Buffer.concat(chunks.map((c) => c.data)).toString(), 'from first\n', 'only the accepted run writes output');
    assertContiguousLog(chunks);
    if (secondAssigned) {
      assert.ok(
        second.messages.some((m) => m.cancellation?.jobId === jobId),
        'the second worker was told to stop its copy of attempt 1',
      );
    }
  });

  it('assigns an attempt to a worker once', async () => {
    const jobId = await submitTwice('same-worker-twice');

    const worker = connectWorker(mesh, 'scripted-c', 2);
    await waitFor(() => assignmentsOf(worker, jobId).length > 0, 10_000, 'assignment');
    await delay(3_000);
    const attempts = assignmentsOf(worker, jobId).map((a) => a.attempt);

    assert.deepEqual(attempts, [1], 'one assignment of attempt 1');
  });
});
