import { status as GrpcStatus, type ClientReadableStream, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { JobServiceClient } from '../../gen/faas/v1/job_service.js';
import { maxMessageBytes } from '../../common/grpc-server.js';
import { meshChannelCredentials, meshChannelOptions, type MeshTlsConfig } from '../../common/tls.js';

export function createSchedulerClient(address: string, tls: MeshTlsConfig | undefined): JobServiceClient {
  return new JobServiceClient(address, meshChannelCredentials(tls), {
    ...meshChannelOptions(tls, address),
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_time_ms': 30_000,
  });
}

type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Response) => void,
) => { cancel(): void };

/** Calls a unary scheduler method with a deadline, cancelling it when `signal` aborts. */
export function callUnary<Request, Response>(
  method: UnaryMethod<Request, Response>,
  request: Request,
  metadata: Metadata,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const call = method(request, metadata, { deadline: new Date(Date.now() + timeoutMs) }, (error, response) => {
      signal.removeEventListener('abort', cancel);
      if (error) reject(error);
      else resolve(response);
    });
    const cancel = () => call.cancel();
    signal.addEventListener('abort', cancel, { once: true });
  });
}

/**
 * Relays a server stream from the scheduler, reopening it when the scheduler
 * becomes unavailable (a restart, or another replica taking over) for up to
 * `resumeMs` since the last message. `open` receives how many messages were
 * already relayed, so the caller can resume without a gap or a duplicate.
 */
export async function relayStream<Response>(
  open: (relayed: number) => ClientReadableStream<Response>,
  send: (message: Response) => Promise<void>,
  signal: AbortSignal,
  resumeMs: number,
): Promise<void> {
  let relayed = 0;
  let retryDelayMs = 100;
  let giveUpAt = Date.now() + resumeMs;
  for (;;) {
    const stream = open(relayed);
    const cancel = () => stream.cancel();
    signal.addEventListener('abort', cancel, { once: true });
    try {
      for await (const message of stream as AsyncIterable<Response>) {
        await send(message);
        relayed++;
        retryDelayMs = 100;
        giveUpAt = Date.now() + resumeMs;
      }
      return;
    } catch (error) {
      if (signal.aborted) return;
      const code = (error as Partial<ServiceError>).code;
      if (code !== GrpcStatus.UNAVAILABLE || Date.now() + retryDelayMs > giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
      retryDelayMs = Math.min(retryDelayMs * 2, 2_000);
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  }
}
