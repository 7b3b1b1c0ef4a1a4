import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Metadata } from '@grpc/grpc-js';
import { FaasClientError } from '../client/errors.js';
import { meshChannelCredentials, meshChannelOptions, readMeshTls } from '../common/tls.js';
import { ObserverServiceClient, type ListScaleEventsResponse, type ScaleResponse } from '../gen/faas/observer/v1/observer_service.js';
import { join } from 'node:path';
import { readObserverConfig } from '../services/observer/config.js';
import { startObserver, type RunningObserver } from '../services/observer/observer.js';
import { startScheduler, type RunningScheduler } from '../services/scheduler/scheduler.js';
import { readWorkerConfig } from '../services/worker/config.js';
import { startWorker, type RunningWorker } from '../services/worker/worker.js';
import { Mesh, waitFor } from './harness.js';


describe('observer', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 0, observer: { slotsPerWorker: 2, minWorkers: 0, maxWorkers: 10 } });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('scales from the queue depth in consumer info', async () => {
    const repo = await mesh.repository({ 'main.sh': 'true\n' });
    for (let i = 0; i < 5; i++) await mesh.client.submit({ repositoryUrl: repo.url });
    await mesh.observer!.refresh();

    const tls = readMeshTls(mesh.certificates.env('gateway'));
    const address = mesh.observer!.address;
    const client = new ObserverServiceClient(address, meshChannelCredentials(tls), meshChannelOptions(tls, address));
    const response = await new Promise<ScaleResponse>((resolve, reject) =>
      client.scale({}, new Metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    const events = await new Promise<ListScaleEventsResponse>((resolve, reject) =>
      client.listScaleEvents({ limit: 0 }, new Metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    client.close();

    const { jsm, names } = mesh.scheduler.context.nats;
    const info = await jsm.consumers.info(names.jobStream, names.dispatchConsumer);
    assert.equal(response.metrics!.pending, info.num_pending);
    assert.equal(response.metrics!.pending, 5);
    assert.equal(response.desiredWorkers, 3);
    assert.equal(response.currentWorkers, 0);
    assert.equal(response.panic, true, 'demand of 5 against no capacity should scale up at once');
    assert.match(response.reason, /5 jobs waiting or running need 3 workers/);
    assert.equal(events.events.length, 1);
    assert.equal(events.events[0].fromWorkers, 0);
    assert.equal(events.events[0].toWorkers, 3);
  });

  it('answers admins through the gateway and no one else', async () => {
    const admin = await mesh.clientFor('admin');
    const response = await admin.scale();
    assert.equal(response.slotsPerWorker, 2);
    const events = await admin.scaleEvents(10);
    assert.ok(events.events.length >= 1);

    const alice = await mesh.clientFor('alice');
    await assert.rejects(alice.scale(), (error: unknown) => {
      assert.ok(error instanceof FaasClientError);
      assert.equal(error.codeName, 'PERMISSION_DENIED');
      assert.match(error.message, /lacks role faas-admin/);
      return true;
    });
    await assert.rejects(mesh.clientWithToken(undefined).scale(), (error: unknown) => error instanceof FaasClientError && error.codeName === 'UNAUTHENTICATED');
  });

  it('shows the decision with faas scale', async () => {
    const bin = fileURLToPath(new URL('../bin/faas.js', import.meta.url));
    const token = await mesh.identity.userToken('admin');
    const output = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, 'scale', '--events', '5'], {
        env: { ...process.env, FAAS_SERVER: mesh.gateway.address, FAAS_TOKEN: token, FAAS_CONFIG_DIR: '/nonexistent/faas-test' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
      child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(output.code, 0, output.stderr);
    assert.match(output.stdout, /^desired workers: 3/m);
    assert.match(output.stdout, /0 -> 3/);
  });
});

describe('observer with two scheduler replicas', function () {
  this.timeout(60_000);
  let mesh: Mesh;
  let second: RunningScheduler | undefined;
  let worker: RunningWorker | undefined;
  let observer: RunningObserver | undefined;

  before(async () => {
    mesh = await Mesh.start({ workers: 1 });
  });
  after(async () => {
    await observer?.stop();
    await worker?.stop();
    await second?.stop();
    await mesh?.stop();
  });

  it('adds up the pools of every replica', async () => {
    const config = mesh.scheduler.context.config;
    second = await startScheduler({ ...config, listenAddress: '127.0.0.1:0', schedulerId: `${config.schedulerId}-b` }, mesh.log);
    worker = await startWorker(
      {
        ...readWorkerConfig({}),
        schedulerAddress: second.address,
        tls: readMeshTls(mesh.certificates.env('worker')),
        workerId: 'worker-of-replica-b',
        workDir: join(mesh.workerDir(0), 'replica-b'),
        allowedAddresses: ['127.0.0.0/8'],
      },
      mesh.log,
    );
    await waitFor(() => second!.context.pool.has('worker-of-replica-b'), 10_000, 'the worker to join replica b');

    observer = await startObserver(
      {
        ...readObserverConfig({}),
        listenAddress: '127.0.0.1:0',
        natsUrl: mesh.nats.url,
        natsPrefix: config.natsPrefix,
        schedulerAddress: mesh.scheduler.address,
        otherSchedulerAddresses: [second.address],
        intervalMs: 600_000,
        tls: readMeshTls(mesh.certificates.env('observer')),
      },
      mesh.log,
    );
    const decision = await observer.refresh();
    // Each replica replies over gRPC and over NATS, and counts once.
    assert.equal(decision.currentWorkers, 2);
  });

  it('finds every replica over NATS', async () => {
    // As behind a Kubernetes Service: the observer has the address of one replica only.
    const config = mesh.scheduler.context.config;
    const alone = await startObserver(
      {
        ...readObserverConfig({}),
        listenAddress: '127.0.0.1:0',
        natsUrl: mesh.nats.url,
        natsPrefix: config.natsPrefix,
        schedulerAddress: mesh.scheduler.address,
        intervalMs: 600_000,
        tls: readMeshTls(mesh.certificates.env('observer')),
      },
      mesh.log,
    );
    try {
      const decision = await alone.refresh();
      assert.equal(decision.currentWorkers, 2);
    } finally {
      await alone.stop();
    }
  });
});
