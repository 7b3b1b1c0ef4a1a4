import assert from 'node:assert/strict';
import { Metadata } from '@grpc/grpc-js';
import { meshChannelCredentials, meshChannelOptions, readMeshTls } from '../common/tls.js';
import { ObserverServiceClient, type ListScaleEventsResponse, type ScaleResponse } from '../gen/faas/observer/v1/observer_service.js';
import { readObserverConfig } from '../services/observer/config.js';
import { startObserver, type RunningObserver } from '../services/observer/observer.js';
import { Mesh } from './harness.js';

describe('observer', function () {
  this.timeout(60_000);
  let mesh: Mesh;
  let observer: RunningObserver;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
    observer = await startObserver(
      {
        ...readObserverConfig({}),
        listenAddress: '127.0.0.1:0',
        natsUrl: mesh.nats.url,
        natsPrefix: mesh.scheduler.context.config.natsPrefix,
        schedulerAddress: mesh.scheduler.address,
        intervalMs: 60_000,
        slotsPerWorker: 2,
        minWorkers: 0,
        maxWorkers: 10,
        tls: readMeshTls(mesh.certificates.env('observer')),
      },
      mesh.log,
    );
  });
  after(async () => {
    await observer?.stop();
    await mesh?.stop();
  });

  it('scales from the queue depth in consumer info', async () => {
    const repo = await mesh.repository({ 'main.sh': 'true\n' });
    for (let i = 0; i < 5; i++) await mesh.client.submit({ repositoryUrl: repo.url });
    await observer.refresh();

    const tls = readMeshTls(mesh.certificates.env('gateway'));
    const client = new ObserverServiceClient(observer.address, meshChannelCredentials(tls), meshChannelOptions(tls, observer.address));
    const response = await new Promise<ScaleResponse>((resolve, reject) =>
      client.scale({}, new Metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    const events = await new Promise<ListScaleEventsResponse>((resolve, reject) =>
      client.listScaleEvents({ limit: 0 }, new Metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    client.close();
    assert.equal(events.events.length, 1);
    assert.equal(events.events[0].fromWorkers, 0);
    assert.equal(events.events[0].toWorkers, 3);
    assert.equal(response.panic, true, 'demand of 5 against no capacity should scale up at once');

    const { jsm, names } = mesh.scheduler.context.nats;
    const info = await jsm.consumers.info(names.jobStream, names.dispatchConsumer);
    assert.equal(response.metrics!.pending, info.num_pending);
    assert.equal(response.metrics!.pending, 5);
    assert.equal(response.desiredWorkers, 3);
    assert.equal(response.currentWorkers, 0);
    assert.match(response.reason, /5 jobs waiting or running need 3 workers/);
  });
});
