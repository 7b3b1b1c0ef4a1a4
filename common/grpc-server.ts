import {
  Server,
  ServerCredentials,
  type Metadata,
  type MethodDefinition,
  type ServiceDefinition,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { setMaxListeners } from 'node:events';
import { metrics, type Histogram } from '@opentelemetry/api';
import { HealthImplementation } from 'grpc-health-check';
import { ErrorCode, errorMessage, FaasError, invalidArgument } from './errors.js';
import type { Logger } from './logger.js';
import type { Readiness } from './readiness.js';
import { portInUse } from './http-listen.js';

/** Marks a request that could not be decoded; see `tolerantService`. */
const undecodable = Symbol('undecodable request');

interface Undecodable {
  [undecodable]: string;
}

/**
 * Returns `definition` with request decoders that never throw. grpc-js
 * answers a decoding error with INTERNAL before any handler runs; with this,
 * a malformed request (bad wire format, a uint64 beyond 2^53) reaches the
 * handler as a marker, and `unary`, `serverStream` or `rejectUndecodable`
 * answer INVALID_ARGUMENT.
 */
export function tolerantService<Definition extends ServiceDefinition>(definition: Definition): Definition {
  const wrapped: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition as ServiceDefinition)) {
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (error) {
          return { [undecodable]: errorMessage(error) } satisfies Undecodable;
        }
      },
    };
  }
  return wrapped as Definition;
}

/** Options of the `unary` and `serverStream` wrappers. */
export interface HandlerOptions {
  /**
   * Checks the caller before an undecodable request is rejected, so a call
   * without valid credentials gets UNAUTHENTICATED whatever its body.
   */
  authenticate?: (metadata: Metadata) => Promise<unknown>;
}

/** Rejects an undecodable request, after `options.authenticate` has checked its caller. */
async function checkDecoded(request: unknown, metadata: Metadata, options: HandlerOptions): Promise<void> {
  if (options.authenticate && typeof request === 'object' && request !== null && undecodable in request) await options.authenticate(metadata);
  rejectUndecodable(request);
}

/** Throws INVALID_ARGUMENT when `request` is the marker of an undecodable message. */
export function rejectUndecodable(request: unknown): void {
  if (typeof request === 'object' && request !== null && undecodable in request) {
    const reason = (request as Undecodable)[undecodable];
    if (reason.includes('MAX_SAFE_INTEGER')) {
      // protobufjs reads 64-bit fields as JavaScript numbers, so larger values fail to decode.
      throw invalidArgument(
        'request',
        `has a 64-bit integer above ${Number.MAX_SAFE_INTEGER} (2^53 - 1), larger than any field accepts; check the sizes in spec.limits and the offset of Logs`,
      );
    }
    throw invalidArgument('request', `is not a valid protobuf message of this method (${reason}); check the client's generated code`);
  }
}

/** Messages up to 8 MiB: a result carries up to 1 MiB of stdout and of stderr. */
export const maxMessageBytes = 8 * 1024 * 1024;

export function createServer(): Server {
  return new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_permit_without_calls': 1,
  });
}

/**
 * Adds grpc.health.v1 to `server`. The overall status (the empty service
 * name) and each named service report `readiness`: SERVING while all its
 * conditions hold, NOT_SERVING otherwise.
 */
export function addHealth(server: Server, services: string[], readiness: Readiness): void {
  const health = new HealthImplementation({});
  health.addToServer(server);
  readiness.attach(health, services);
}

/** Binds `server` to host:port (port 0 picks a free one) and returns the bound port. */
export function listen(
  server: Server,
  address: string,
  credentials: ServerCredentials = ServerCredentials.createInsecure(),
  setting?: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => {
      if (error) reject(/EADDRINUSE/.test(error.message) ? portInUse(address, setting, error) : error);
      else resolve(port);
    });
  });
}


/** Stops accepting calls, waits up to `graceMs` for running ones, then cancels them. */
export function shutdown(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

let callDuration: Histogram | undefined;

/** Records a finished call in `rpc.server.call.duration`, by method and status code. */
function recordCall(method: string, startedMs: number, code: number): void {
  // Made on first use, once the process's telemetry has started.
  callDuration ??= metrics.getMeter('faas').createHistogram('rpc.server.call.duration', {
    unit: 's',
    description: 'Duration of the gRPC calls this service served',
    advice: { explicitBucketBoundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600] },
  });
  callDuration.record((performance.now() - startedMs) / 1000, { 'rpc.system': 'grpc', 'rpc.method': method, 'rpc.grpc.status_code': code });
}

/** Shortest time between two log lines about one method failing with UNAVAILABLE. */
export const unavailableLogIntervalMs = 5_000;

/** When each method's UNAVAILABLE failure was last logged, and how many failed since without a line. */
const unavailableLogged = new WeakMap<Logger, Map<string, { atMs: number; since: number }>>();

/** Logs a failed call, or one failed request of a batch, at the level its code calls for. */
export function logFailure(log: Logger, method: string, error: FaasError): void {
  if (error.code === ErrorCode.Internal) {
    log.error({ method, err: error.cause ?? error, code: error.code }, `${method} failed`);
  } else if (error.code === ErrorCode.Unavailable) {
    // Expected while a peer restarts, and every call fails alike then: a short line without a stack,
    // at most one per method every few seconds, which counts the calls that failed in between.
    const byMethod = unavailableLogged.get(log) ?? new Map<string, { atMs: number; since: number }>();
    unavailableLogged.set(log, byMethod);
    const last = byMethod.get(method);
    const nowMs = Date.now();
    if (last && nowMs - last.atMs < unavailableLogIntervalMs) {
      last.since++;
      return;
    }
    byMethod.set(method, { atMs: nowMs, since: 0 });
    const alsoFailed = last?.since ? { alsoFailedSinceLastLine: last.since } : {};
    log.warn({ method, code: error.code, cause: errorMessage(error.cause ?? error), ...alsoFailed }, `${method} failed: a service it needs is unavailable`);
  } else {
    log.debug({ method, code: error.code, message: error.message }, `${method} rejected`);
  }
}

/** Wraps an async unary handler: thrown errors become a status with a safe message. */
export function unary<Request, Response>(
  log: Logger,
  method: string,
  handler: (request: Request, metadata: Metadata, signal: AbortSignal) => Promise<Response>,
  options: HandlerOptions = {},
) {
  return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>): void => {
    const startedMs = performance.now();
    const controller = new AbortController();
    let responded = false;
    // grpc-js reports every call as cancelled once its stream closes, even after the response.
    call.on('cancelled', () => {
      if (!responded) controller.abort(new FaasError(ErrorCode.Cancelled, 'the caller cancelled the call'));
    });
    checkDecoded(call.request, call.metadata, options)
      .then(() => handler(call.request, call.metadata, controller.signal))
      .then(
      (response) => {
        responded = true;
        recordCall(method, startedMs, 0);
        callback(null, response);
      },
      (error: unknown) => {
        responded = true;
        const failure = FaasError.from(error);
        logFailure(log, method, failure);
        const status = failure.toStatus();
        recordCall(method, startedMs, status.code ?? 2);
        callback(status, null);
      },
    );
  };
}

/**
 * Wraps an async server-streaming handler. The handler writes with `send`,
 * which waits while the transport's buffer is full, so a slow reader slows
 * the handler instead of growing memory.
 */
export function serverStream<Request, Response>(
  log: Logger,
  method: string,
  handler: (
    request: Request,
    metadata: Metadata,
    send: (message: Response) => Promise<void>,
    signal: AbortSignal,
  ) => Promise<void>,
  shutdownSignal?: AbortSignal,
  options: HandlerOptions = {},
) {
  // Each open stream listens for the shutdown, and hundreds at once are normal.
  if (shutdownSignal) setMaxListeners(0, shutdownSignal);
  return (call: ServerWritableStream<Request, Response>): void => {
    const startedMs = performance.now();
    const controller = new AbortController();
    const abort = () => controller.abort(new FaasError(ErrorCode.Cancelled, 'the caller cancelled the call'));
    call.on('cancelled', abort);
    call.on('close', abort);
    // At shutdown a stream ends with UNAVAILABLE, which signals the caller to
    // reopen it on another replica instead of failing.
    const onShutdown = () => {
      if (controller.signal.aborted) return;
      controller.abort(new FaasError(ErrorCode.Unavailable, 'the server is shutting down; reopen the stream to resume'));
      call.emit('error', (controller.signal.reason as FaasError).toStatus());
    };
    if (shutdownSignal?.aborted) return onShutdown();
    shutdownSignal?.addEventListener('abort', onShutdown, { once: true });
    call.on('close', () => shutdownSignal?.removeEventListener('abort', onShutdown));
    const send = (message: Response): Promise<void> => {
      if (controller.signal.aborted) return Promise.reject(controller.signal.reason);
      if (call.write(message)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const onDrain = () => {
          controller.signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          call.off('drain', onDrain);
          reject(controller.signal.reason);
        };
        call.once('drain', onDrain);
        controller.signal.addEventListener('abort', onAbort, { once: true });
      });
    };
    checkDecoded(call.request, call.metadata, options)
      .then(() => handler(call.request, call.metadata, send, controller.signal))
      .then(
      () => {
        recordCall(method, startedMs, controller.signal.aborted ? 1 : 0);
        if (!controller.signal.aborted) call.end();
      },
      (error: unknown) => {
        if (controller.signal.aborted) return recordCall(method, startedMs, 1);
        const failure = FaasError.from(error);
        logFailure(log, method, failure);
        const status = failure.toStatus();
        recordCall(method, startedMs, status.code ?? 2);
        call.emit('error', status);
      },
    );
  };
}
