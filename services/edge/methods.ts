import type { ServiceDefinition } from '@grpc/grpc-js';
import { JobServiceService } from '../../gen/faas/v1/job_service.js';
import { ObserverServiceService } from '../../gen/faas/observer/v1/observer_service.js';
import { HealthService } from '../../gen/grpc/health/v1/health.js';

/** Response shape of a forwarded method: one message, or a stream of them. Browsers cannot send request streams. */
export type MethodKind = 'unary' | 'server-streaming';

export interface ForwardedMethod {
  /** gRPC path, `/package.Service/Method`. */
  path: string;
  kind: MethodKind;
}

function methodsOf(definition: ServiceDefinition, only?: string[]): ForwardedMethod[] {
  return Object.values(definition)
    .filter((method) => !method.requestStream)
    .filter((method) => only === undefined || only.includes(method.path))
    .map((method) => ({ path: method.path, kind: method.responseStream ? 'server-streaming' : 'unary' }));
}

/**
 * The methods the edge forwards, read from the generated service
 * definitions: every unary and server-streaming method of the public job
 * and observer services, and the one-shot health check. Everything else the
 * gateway or the mesh serves (reflection, Health/Watch, the worker's
 * bidirectional Connect) stays out of reach of browsers.
 */
const forwardedMethods = new Map(
  [
    ...methodsOf(JobServiceService),
    ...methodsOf(ObserverServiceService),
    ...methodsOf(HealthService, ['/grpc.health.v1.Health/Check']),
  ].map((method) => [method.path, method]),
);

/** Returns the forwarded method at `path`, or undefined when the edge does not forward it. */
export function findForwardedMethod(path: string): ForwardedMethod | undefined {
  return forwardedMethods.get(path);
}

/** Returns the message of the UNIMPLEMENTED status for a path the edge does not forward. */
export function notForwardedMessage(path: string): string {
  const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
  return (
    `method ${shown} is not available over grpc-web: the edge forwards the unary and server-streaming methods ` +
    'of faas.v1.JobService and faas.observer.v1.ObserverService, and grpc.health.v1.Health/Check'
  );
}
