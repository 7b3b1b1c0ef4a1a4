import { Client, Metadata, status as GrpcStatus, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { context, contextFrom, ROOT_CONTEXT } from '../../common/tracing.js';
import { maxMessageBytes } from '../../common/grpc-server.js';
import { meshChannelCredentials, meshChannelOptions, type MeshTlsConfig } from '../../common/tls.js';
import { HealthCheckResponse_ServingStatus, HealthService } from '../../gen/grpc/health/v1/health.js';

/** Passes message bytes through unchanged: the edge forwards messages without decoding them. */
const passThrough = (bytes: Buffer): Buffer => bytes;

/** Result of a health check of the gateway. */
export interface GatewayHealth {
  serving: boolean;
  /** The serving status (SERVING, NOT_SERVING, ...), or the gRPC code of the failed check. */
  status: string;
  /** The failed check's error message, for the log: it may name internal addresses. */
  error?: string;
}

/**
 * The edge's one channel to the gateway: a generic grpc-js client, so a
 * single HTTP/2 connection (TLS when mesh TLS is configured) carries every
 * forwarded call.
 */
export class GatewayChannel {
  private readonly client: Client;

  constructor(readonly address: string, tls: MeshTlsConfig | undefined) {
    this.client = new Client(address, meshChannelCredentials(tls), {
      ...meshChannelOptions(tls, address),
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': maxMessageBytes,
      'grpc.keepalive_time_ms': 30_000,
    });
  }

  /**
   * Starts a call of `path` with one request message. A unary method is
   * called the same way: on the wire it is a stream with one message each
   * way, and the edge relays the frames without caring how many arrive.
   */
  call(path: string, message: Buffer, metadata: Metadata, deadline: Date | undefined): ClientReadableStream<Buffer> {
    // The gRPC instrumentation makes the client span in the active context,
    // so the call joins the browser's trace when the request carries a
    // traceparent. The instrumentation then writes its own into the metadata.
    const carrier: Record<string, string> = {};
    for (const key of ['traceparent', 'tracestate']) {
      const value = metadata.get(key)[0];
      if (typeof value === 'string') carrier[key] = value;
    }
    return context.with(contextFrom(carrier, ROOT_CONTEXT), () =>
      this.client.makeServerStreamRequest(path, passThrough, passThrough, message, metadata, deadline ? { deadline } : {}),
    );
  }

  /** Asks the gateway's health service about `service`, with a deadline of `timeoutMs`. */
  checkHealth(service: string, timeoutMs: number): Promise<GatewayHealth> {
    const method = HealthService.check;
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        { service },
        new Metadata(),
        { deadline: new Date(Date.now() + timeoutMs) },
        (error: ServiceError | null, response) => {
          if (error) {
            resolve({ serving: false, status: GrpcStatus[error.code] ?? String(error.code), error: error.details || error.message });
            return;
          }
          const status = response?.status ?? HealthCheckResponse_ServingStatus.UNKNOWN;
          resolve({
            serving: status === HealthCheckResponse_ServingStatus.SERVING,
            status: HealthCheckResponse_ServingStatus[status] ?? String(status),
          });
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
