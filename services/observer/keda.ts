import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '@grpc/grpc-js';
import {
  ExternalScalerService,
  type GetMetricSpecResponse,
  type GetMetricsRequest,
  type GetMetricsResponse,
  type IsActiveResponse,
  type ScaledObjectRef,
} from '../../gen/externalscaler/externalscaler.js';
import type { ScaleResponse } from '../../gen/faas/observer/v1/observer_service.js';
import { ErrorCode, FaasError, invalidArgument } from '../../common/errors.js';
import { serverStream, tolerantService, unary } from '../../common/grpc-server.js';
import type { Logger } from '../../common/logger.js';

/** The one metric the observer reports to KEDA: jobs waiting or running. */
export const jobsMetricName = 'faas-jobs';

/** The scalerMetadata key that overrides the observer's slots per worker for one ScaledObject. */
export const slotsPerWorkerKey = 'slotsPerWorker';

export interface ExternalScalerOptions {
  /** Job slots per worker, used as the metric's target when scalerMetadata does not set one. */
  slotsPerWorker: number;
  /** How often StreamIsActive reads the queue, in milliseconds. */
  intervalMs: number;
}

/**
 * Adds KEDA's ExternalScaler service to `server`. The metric `faas-jobs` is
 * the dispatch consumer's num_pending + num_ack_pending, and its target is
 * the slots per worker, so KEDA's HPA computes demand / slots workers
 * (rounded up). Every call reads the queue through `refresh`, the observer's
 * own read, which also updates the decision that the Scale RPC returns.
 * When the consumer info cannot be read, `refresh` throws UNAVAILABLE and
 * the call fails with it, so KEDA keeps its last value.
 */
export function addExternalScaler(
  server: Server,
  refresh: () => Promise<ScaleResponse>,
  options: ExternalScalerOptions,
  log: Logger,
): void {
  // KEDA sends IsActive and GetMetrics together at each polling interval,
  // so concurrent calls share one read of the queue.
  let reading: Promise<number> | undefined;
  const readDemand = (): Promise<number> => {
    reading ??= refresh()
      .then(demandOf)
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };

  server.addService(tolerantService(ExternalScalerService), {
    isActive: unary(log, 'IsActive', async (): Promise<IsActiveResponse> => ({ result: (await readDemand()) > 0 })),

    streamIsActive: serverStream(log, 'StreamIsActive', async (request: ScaledObjectRef, _metadata, send, signal) => {
      log.debug({ scaledObject: request.name, namespace: request.namespace }, 'StreamIsActive opened');
      let previous: boolean | undefined;
      // Runs until the caller cancels. A failed read ends the stream with
      // UNAVAILABLE, and KEDA reopens it after a backoff.
      // NOTE: no shutdown signal reaches this loop, so the observer's stop()
      // waits out its 2 s grace for open streams before cancelling them.
      while (!signal.aborted) {
        const active = (await readDemand()) > 0;
        if (active !== previous) {
          await send({ result: active });
          previous = active;
        }
        await sleep(options.intervalMs, undefined, { signal }).catch(() => undefined);
      }
      log.debug({ scaledObject: request.name, namespace: request.namespace }, 'StreamIsActive closed');
    }),

    getMetricSpec: unary(log, 'GetMetricSpec', async (request: ScaledObjectRef): Promise<GetMetricSpecResponse> => {
      const target = readSlotsPerWorker(request, options.slotsPerWorker);
      return { metricSpecs: [{ metricName: jobsMetricName, targetSize: target, targetSizeFloat: target }] };
    }),

    getMetrics: unary(log, 'GetMetrics', async (request: GetMetricsRequest): Promise<GetMetricsResponse> => {
      if (request.metricName !== jobsMetricName) {
        throw new FaasError(
          ErrorCode.NotFound,
          `metric ${JSON.stringify(request.metricName)} not found; this scaler reports only ${jobsMetricName}`,
        );
      }
      const demand = await readDemand();
      return { metricValues: [{ metricName: jobsMetricName, metricValue: demand, metricValueFloat: demand }] };
    }),
  });
}

function demandOf(decision: ScaleResponse): number {
  if (!decision.metrics) throw new FaasError(ErrorCode.Internal, 'the scaling decision has no queue metrics');
  return decision.metrics.pending + decision.metrics.ackPending;
}

/** Returns scalerMetadata.slotsPerWorker when set (an integer from 1 to 64), else `fallback`. */
export function readSlotsPerWorker(request: ScaledObjectRef, fallback: number): number {
  const raw = request.scalerMetadata?.[slotsPerWorkerKey];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > 64) {
    throw invalidArgument(
      `scalerMetadata.${slotsPerWorkerKey}`,
      `${JSON.stringify(raw)} is invalid; set an integer from 1 to 64 in the trigger's metadata`,
    );
  }
  return value;
}
