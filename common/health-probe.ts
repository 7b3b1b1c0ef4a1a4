import { Metadata, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus, HealthClient } from '../gen/grpc/health/v1/health.js';
import type { Logger } from './logger.js';
import type { Readiness } from './readiness.js';

export interface UpstreamHealthOptions {
  /** Name of the readiness condition, such as "scheduler". */
  condition: string;
  address: string;
  credentials: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** How often to ask. Default 2 s. */
  intervalMs?: number;
  readiness: Readiness;
  log: Logger;
}

/**
 * Calls an upstream service's grpc.health.v1 Check at an interval and keeps
 * a readiness condition in step with the response, because a service is
 * only as ready as what it cannot work without. Returns a function that
 * stops it.
 */
export function followUpstreamHealth(options: UpstreamHealthOptions): () => void {
  const { condition, address, readiness, log } = options;
  const intervalMs = options.intervalMs ?? 2_000;
  const client = new HealthClient(address, options.credentials, options.channelOptions);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastProblem: string | undefined = 'not asked yet';

  const report = (problem: string | undefined) => {
    readiness.set(condition, problem === undefined, problem);
    if (problem !== lastProblem) {
      if (problem === undefined) log.info({ upstream: address }, `${condition} is serving`);
      else log.warn({ upstream: address, problem }, `${condition} is not serving`);
    }
    lastProblem = problem;
  };
  const ask = () => {
    client.check({ service: '' }, new Metadata(), { deadline: new Date(Date.now() + Math.max(500, intervalMs - 250)) }, (error, response) => {
      if (stopped) return;
      if (error) report(`${condition} at ${address} does not answer: ${error.details || error.message}`);
      else if (response.status !== HealthCheckResponse_ServingStatus.SERVING) {
        report(`${condition} at ${address} reports ${HealthCheckResponse_ServingStatus[response.status]}`);
      } else report(undefined);
      timer = setTimeout(ask, intervalMs);
      timer.unref();
    });
  };
  readiness.set(condition, false, `${condition} at ${address} not asked yet`);
  ask();
  return () => {
    stopped = true;
    clearTimeout(timer);
    client.close();
  };
}
