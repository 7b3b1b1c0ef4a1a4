import assert from 'node:assert/strict';
import { status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { meshChannelCredentials, meshChannelOptions, readMeshTls } from '../common/tls.js';
import {
  ExternalScalerClient,
  type GetMetricSpecResponse,
  type GetMetricsRequest,
  type GetMetricsResponse,
  type IsActiveResponse,
  type ScaledObjectRef,
} from '../gen/externalscaler/externalscaler.js';
import { readObserverConfig, type ObserverConfig } from '../services/observer/config.js';
import { jobsMetricName } from '../services/observer/keda.js';
import { startObserver, type RunningObserver } from '../services/observer/observer.js';
import { Mesh } from './harness.js';

/** Promise wrappers for the unary RPCs of `client`. */
function unaryCalls(client: ExternalScalerClient) {
  const settle =
    <T>(resolve: (value: T) => void, reject: (error: ServiceError) => void) =>
    (error: ServiceError | null, response: T) =>
      error ? reject(error) : resolve(response);
  return {
    isActive: (ref: ScaledObjectRef) =>
      new Promise<IsActiveResponse>((resolve, reject) => client.isActive(ref, settle(resolve, reject))),
    getMetricSpec: (ref: ScaledObjectRef) =>
      new Promise<GetMetricSpecResponse>((resolve, reject) => client.getMetricSpec(ref, settle(resolve, reject))),
    getMetrics: (request: GetMetricsRequest) =>
      new Promise<GetMetricsResponse>((resolve, reject) => client.getMetrics(request, settle(resolve, reject))),
  };
}

/** Reads the next message of `stream`, failing after `timeoutMs`. */
function nextMessage<T>(stream: ClientReadableStream<T>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no message on the stream within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (message: T) => {
      cleanup();
      resolve(message);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('error', onError);
    };
    stream.on('data', onData);
    stream.on('error', onError);
  });
}

describe('KEDA external scaler', function () {
  this.timeout(60_000);
  const intervalMs = 200;
  const ref: ScaledObjectRef = { name: 'faas-worker', namespace: 'faas', scalerMetadata: {} };
  const request: GetMetricsRequest = { scaledObjectRef: ref, metricName: jobsMetricName };
  let mesh: Mesh;
  let observer: RunningObserver;
  let client: ExternalScalerClient;
  let scaler: ReturnType<typeof unaryCalls>;

  const observerConfig = (natsPrefix: string): ObserverConfig => ({
    ...readObserverConfig({}),
    listenAddress: '127.0.0.1:0',
    natsUrl: mesh.nats.url,
    natsPrefix,
    schedulerAddress: mesh.scheduler.address,
    intervalMs,
    slotsPerWorker: 2,
    minWorkers: 0,
    maxWorkers: 10,
    tls: readMeshTls(mesh.certificates.env('observer')),
  });

  const connect = (address: string): ExternalScalerClient => {
    const tls = readMeshTls(mesh.certificates.env('gateway'));
    return new ExternalScalerClient(address, meshChannelCredentials(tls), meshChannelOptions(tls, address));
  };

  const consumerDemand = async (): Promise<number> => {
    const { jsm, names } = mesh.scheduler.context.nats;
    const info = await jsm.consumers.info(names.jobStream, names.dispatchConsumer);
    return info.num_pending + info.num_ack_pending;
  };

  const submitJobs = async (count: number): Promise<void> => {
    const repo = await mesh.repository({ 'main.sh': 'true\n' });
    for (let i = 0; i < count; i++) await mesh.client.submit({ repositoryUrl: repo.url });
  };

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
    observer = await startObserver(observerConfig(mesh.scheduler.context.config.natsPrefix), mesh.log);
    client = connect(observer.address);
    scaler = unaryCalls(client);
  });
  after(async () => {
    client?.close();
    await observer?.stop();
    await mesh?.stop();
  });

  it('reports an empty queue as inactive', async () => {
    const active = await scaler.isActive(ref);
    assert.equal(active.result, false);

    const metrics = await scaler.getMetrics(request);
    assert.equal(metrics.metricValues.length, 1);
    assert.equal(metrics.metricValues[0]!.metricValue, 0);
    assert.equal(metrics.metricValues[0]!.metricValue, await consumerDemand());
  });

  it('returns slots per worker as target', async () => {
    const spec = await scaler.getMetricSpec(ref);
    assert.equal(spec.metricSpecs.length, 1);
    assert.equal(spec.metricSpecs[0]!.metricName, jobsMetricName);
    assert.equal(spec.metricSpecs[0]!.targetSize, 2);
    assert.equal(spec.metricSpecs[0]!.targetSizeFloat, 2);
  });

  it('takes slotsPerWorker from scalerMetadata', async () => {
    const spec = await scaler.getMetricSpec({ ...ref, scalerMetadata: { slotsPerWorker: '5' } });
    assert.equal(spec.metricSpecs[0]!.targetSize, 5);

    for (const invalid of ['0', '65', '1.5', 'two']) {
      await assert.rejects(
        scaler.getMetricSpec({ ...ref, scalerMetadata: { slotsPerWorker: invalid } }),
        (error: ServiceError) => {
          assert.equal(error.code, status.INVALID_ARGUMENT, `slotsPerWorker=${invalid}`);
          assert.match(error.details, /scalerMetadata\.slotsPerWorker/);
          return true;
        },
      );
    }
  });

  it('rejects an unknown metric name', async () => {
    await assert.rejects(
      scaler.getMetrics({ scaledObjectRef: ref, metricName: 'other' }),
      (error: ServiceError) => {
        assert.equal(error.code, status.NOT_FOUND);
        assert.match(error.details, /faas-jobs/);
        return true;
      },
    );
  });

  it('streams a change when jobs arrive', async () => {
    const stream = client.streamIsActive(ref);
    stream.on('error', () => undefined); // The cancellation below ends the stream with CANCELLED.
    try {
      const initial = await nextMessage(stream, 5_000);
      assert.equal(initial.result, false);

      await submitJobs(1);
      // The stream reads the queue every 200 ms, so the change arrives well within 10 s.
      const changed = await nextMessage(stream, 10_000);
      assert.equal(changed.result, true);
    } finally {
      stream.cancel();
    }
  });

  it('reports demand from consumer info', async () => {
    await submitJobs(4);
    const expected = await consumerDemand();
    assert.equal(expected, 5, 'one job from the stream test and four from this one');

    const metrics = await scaler.getMetrics(request);
    assert.equal(metrics.metricValues.length, 1);
    assert.equal(metrics.metricValues[0]!.metricName, jobsMetricName);
    assert.equal(metrics.metricValues[0]!.metricValue, expected);
    assert.equal(metrics.metricValues[0]!.metricValueFloat, expected);

    const active = await scaler.isActive(ref);
    assert.equal(active.result, true);
  });

  it('returns UNAVAILABLE without consumer info', async () => {
    // A prefix with no stream behind it makes the consumer info unreadable.
    const orphan = await startObserver(observerConfig('Tmissing'), mesh.log);
    const orphanClient = connect(orphan.address);
    const orphanScaler = unaryCalls(orphanClient);
    try {
      for (const attempt of [
        orphanScaler.getMetrics(request),
        orphanScaler.isActive(ref),
      ]) {
        await assert.rejects(attempt, (error: ServiceError) => {
          assert.equal(error.code, status.UNAVAILABLE);
          return true;
        });
      }
      // The spec needs no queue read, so it still works.
      const spec = await orphanScaler.getMetricSpec(ref);
      assert.equal(spec.metricSpecs[0]!.targetSize, 2);
    } finally {
      orphanClient.close();
      await orphan.stop();
    }
  });
});
