import { GrpcWebFetchTransport } from '@protobuf-ts/grpcweb-transport';
import { RpcError, type RpcOptions, type ServerStreamingCall, type UnaryCall } from '@protobuf-ts/runtime-rpc';
import { ObserverServiceClient } from '../../gen/web/faas/observer/v1/observer_service.client';
import type { ListScaleEventsResponse, ScaleResponse } from '../../gen/web/faas/observer/v1/observer_service';
import { JobServiceClient } from '../../gen/web/faas/v1/job_service.client';
import type { ListRequest, ListResponse, LogsResponse, ResultResponse } from '../../gen/web/faas/v1/job_service';
import type { Job, JobSpec } from '../../gen/web/faas/v1/job';
import { SignInRequiredError, type Auth } from './auth.js';
import type { PageConfig } from './config.js';

/** Deadline of each unary call, in milliseconds. */
const unaryDeadlineMs = 20_000;

/** A failed call: the gRPC status code name (such as `INVALID_ARGUMENT`) and the server's message. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Turns anything a call throws into an ApiError. grpc-message is percent-encoded on the wire (gRPC over HTTP/2). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof SignInRequiredError) return new ApiError('UNAUTHENTICATED', error.message);
  if (error instanceof RpcError) {
    let message = error.message;
    try {
      message = decodeURIComponent(message);
    } catch {
      // Not percent-encoded after all; show it as it came.
    }
    if (error.code === 'INTERNAL' && /fetch|network/i.test(message)) {
      return new ApiError('UNAVAILABLE', `The server could not be reached (${message}). Check the connection and retry.`);
    }
    return new ApiError(error.code, message);
  }
  return new ApiError('UNKNOWN', error instanceof Error ? error.message : String(error));
}

/** True when the error comes from aborting the call on purpose, such as leaving a page. */
export function isAbort(error: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (error instanceof RpcError && error.code === 'CANCELLED' && /abort/i.test(error.message));
}

/** Calls the gateway's JobService and ObserverService over grpc-web (binary format) with the user's access token. */
export class Api {
  private readonly jobs: JobServiceClient;
  private readonly observer: ObserverServiceClient;

  constructor(
    config: PageConfig,
    private readonly auth: Auth,
  ) {
    const transport = new GrpcWebFetchTransport({ baseUrl: config.grpcWebUrl, format: 'binary' });
    this.jobs = new JobServiceClient(transport);
    this.observer = new ObserverServiceClient(transport);
  }

  async submit(spec: JobSpec): Promise<Job> {
    const response = await this.unary((options) => this.jobs.submit({ spec }, options));
    if (response.job === undefined) throw new ApiError('INTERNAL', 'Submit returned no job');
    return response.job;
  }

  async status(jobId: string): Promise<Job> {
    const response = await this.unary((options) => this.jobs.status({ jobId }, options));
    if (response.job === undefined) throw new ApiError('INTERNAL', 'Status returned no job');
    return response.job;
  }

  result(jobId: string): Promise<ResultResponse> {
    return this.unary((options) => this.jobs.result({ jobId }, options));
  }

  list(request: ListRequest): Promise<ListResponse> {
    return this.unary((options) => this.jobs.list(request, options));
  }

  async cancel(jobId: string): Promise<Job> {
    const response = await this.unary((options) => this.jobs.cancel({ jobId, reason: 'from the web page' }, options));
    if (response.job === undefined) throw new ApiError('INTERNAL', 'Cancel returned no job');
    return response.job;
  }

  scale(): Promise<ScaleResponse> {
    return this.unary((options) => this.observer.scale({}, options));
  }

  listScaleEvents(limit: number): Promise<ListScaleEventsResponse> {
    return this.unary((options) => this.observer.listScaleEvents({ limit }, options));
  }

  /** Streams the job's records until it reaches a final state. Aborting `signal` ends the stream quietly. */
  async *watch(jobId: string, signal: AbortSignal): AsyncGenerator<Job> {
    for await (const response of this.stream((options) => this.jobs.watch({ jobId }, options), signal)) {
      if (response.job !== undefined) yield response.job;
    }
  }

  /** Streams the job's output from `offset` and follows it until the job has ended. */
  logs(jobId: string, offset: number, signal: AbortSignal): AsyncGenerator<LogsResponse> {
    return this.stream((options) => this.jobs.logs({ jobId, offset, follow: true }, options), signal);
  }

  private async callOptions(signal?: AbortSignal): Promise<RpcOptions> {
    const token = await this.auth.accessToken();
    return { meta: { authorization: `Bearer ${token}` }, abort: signal };
  }

  /** Runs a unary call, and runs it once more with a renewed token when the gateway rejects the token. */
  private async unary<I extends object, O extends object>(start: (options: RpcOptions) => UnaryCall<I, O>): Promise<O> {
    for (let attempt = 1; ; attempt++) {
      try {
        const call = start({ ...(await this.callOptions()), timeout: unaryDeadlineMs });
        return await call.response;
      } catch (error) {
        const apiError = toApiError(error);
        if (apiError.code === 'UNAUTHENTICATED' && attempt === 1 && !(error instanceof SignInRequiredError) && (await this.auth.renewAfterRejection())) {
          continue;
        }
        throw apiError;
      }
    }
  }

  private async *stream<I extends object, O extends object>(
    start: (options: RpcOptions) => ServerStreamingCall<I, O>,
    signal: AbortSignal,
  ): AsyncGenerator<O> {
    let call: ServerStreamingCall<I, O>;
    try {
      call = start(await this.callOptions(signal));
    } catch (error) {
      throw toApiError(error);
    }
    try {
      for await (const message of call.responses) yield message;
    } catch (error) {
      if (isAbort(error, signal)) return;
      throw toApiError(error);
    }
  }
}
