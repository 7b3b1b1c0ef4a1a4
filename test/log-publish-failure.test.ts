import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { JobPhase, JobState, LogStream } from '../gen/faas/v1/job.js';
import {
  WorkerServiceClient,
  type ConnectRequest,
  type ConnectResponse,
} from '../gen/faas/worker/v1/worker_service.js';
import { isFinal } from '../common/job-states.js';
import { meshChannelCredentials, meshChannelOptions, readMeshTls } from '../common/tls.js';
import { Mesh, waitFor } from './harness.js';

/** nats-server's default max_payload, which the harness keeps. */
const natsMaxPayloadBytes = 1024 * 1024;

/** Returns a WorkerService client with the worker's mesh certificate. */
function workerClient(mesh: Mesh): WorkerServiceClient {
  const tls = readMeshTls(mesh.certificates.env('worker'));
  return new WorkerServiceClient(mesh.scheduler.address, meshChannelCredentials(tls), meshChannelOptions(tls, mesh.scheduler.address));
}

// A LogData message may carry up to the 8 MiB gRPC limit, but the scheduler
// publishes it to NATS as one message. A chunk above max_payload is a
// deterministic way to make one log publish fail.
describe('log publish failure', function () {
  this.timeout(60_000);
  let mesh: Mesh;
  let client: WorkerServiceClient | undefined;
  let stream: ClientDuplexStream<ConnectRequest, ConnectResponse> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
  });
  after(async () => {
    clearInterval(heartbeat);
    stream?.end();
    client?.close();
    await mesh?.stop();
  });

  it('still records the outcome the worker reports', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo unused\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const jobId = job!.id;

    client = workerClient(mesh);
    stream = client.connect();
    const messages: ConnectResponse[] = [];
    stream.on('data', (message: ConnectResponse) => messages.push(message));
    stream.on('error', () => undefined);
    stream.write({ hello: { workerId: 'scripted-log', protocolVersion: 1, slots: 1, hostname: 'test', running: [] } });
    heartbeat = setInterval(() => stream!.write({ heartbeat: { runningJobIds: [jobId], draining: false } }), 200);
    await waitFor(() => messages.some((m) => m.assignment?.jobId === jobId), 10_000, 'assignment');

    stream.write({ update: { jobId, attempt: 1, phase: JobPhase.JOB_PHASE_RUNNING, commitSha: '', traceContext: {}, entrypoint: '' } });
    await waitFor(async () => (await mesh.client.status(jobId)).state === JobState.JOB_STATE_RUNNING, 5_000, 'RUNNING');
    stream.write({ log: { jobId, attempt: 1, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.alloc(natsMaxPayloadBytes + 1024, 0x61) } });
    stream.write({ log: { jobId, attempt: 1, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('done\n') } });
    stream.write({ outcome: { jobId, attempt: 1, state: JobState.JOB_STATE_SUCCEEDED, commitSha: '', platformFailure: false, traceContext: {} } });

    let state = JobState.JOB_STATE_RUNNING;
    for (let i = 0; i < 40 && !isFinal(state); i++) {
      await delay(250);
      state = (await mesh.client.status(jobId)).state;
    }
    const session = mesh.scheduler.context.pool.all().find((candidate) => candidate.workerId === 'scripted-log');

    assert.ok(isFinal(state), `job is still ${JobState[state]} 10 s after the worker reported its outcome`);
    assert.equal(session?.jobs.size, 0, 'the scheduler still holds the job on the worker');
  });
});
