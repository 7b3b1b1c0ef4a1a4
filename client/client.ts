import { randomUUID } from 'node:crypto';
import {
  credentials,
  Metadata,
  status as GrpcStatus,
  type ChannelCredentials,
  type ClientReadableStream,
} from '@grpc/grpc-js';
import { Job, JobSpec, type JobState } from '../gen/faas/v1/job.js';
import {
  CancelRequest,
  JobServiceClient,
  ListRequest,
  LogsRequest,
  ResultRequest,
  StatusRequest,
  SubmitRequest,
  WatchRequest,
  type ListResponse,
  type LogsResponse,
  type ResultResponse,
  type SubmitResponse,
  type WatchResponse,
} from '../gen/faas/v1/job_service.js';
import { callUnary, readResumable, type CallSettings } from './calls.js';
import { FaasClientError } from './errors.js';
import { SubmitBatcher } from './submit-batcher.js';
import { checkEventLimit, checkOffset, checkPageSize, checkSpec } from './request-check.js';
import { defaultBackoff, type BackoffOptions } from './retry.js';
import {
  ObserverServiceClient,
  type ListScaleEventsResponse,
  type ScaleResponse,
} from '../gen/faas/observer/v1/observer_service.js';

export const defaultAddress = '127.0.0.1:50051';

/** Largest `pageSize` the gateway accepts in a List request. */
export const maxPageSize = 500;

export interface FaasClientOptions {
  /** Gateway address as host:port. Default: FAAS_SERVER, else 127.0.0.1:50051. */
  address?: string;
  /**
   * Deadline of each unary call in milliseconds, counted from the first
   * attempt, so retries and backoff fit inside it. Streams have no deadline.
   * Default 30000.
   */
  deadlineMs?: number;
  /**
   * Retries after UNAVAILABLE. A unary call is sent at most `retries + 1`
   * times. A stream is reopened at most `retries` times in a row without
   * receiving a new message, or `streamRetries` times once it has delivered
   * one. Default 4.
   */
  retries?: number;
  /**
   * Reopenings in a row without a new message, after UNAVAILABLE, of a
   * stream that has delivered a message. A stream that has not is reopened
   * `retries` times. With the default backoff, 10 ride out a gateway
   * restart of about 20 s (an estimate from the backoff's delays). Default: `retries`.
   */
  streamRetries?: number;
  /**
   * Bearer token, sent as `authorization: Bearer <token>` with every call. It
   * travels in clear text unless `channelCredentials` sets up TLS. A function
   * is called before each call and each stream reconnect, so it can renew an
   * expiring token. It returns undefined to send no token, and a rejection
   * fails that call with the same error.
   */
  token?: string | TokenSource;
  /** Channel credentials. Default: plaintext, which suits a gateway on loopback only. */
  channelCredentials?: ChannelCredentials;
  /** Backoff between retries. Default: 100 ms, doubling up to 5 s, minus up to half at random. */
  backoff?: BackoffOptions;
  /**
   * Sends the `submit` calls made in one turn of the event loop together, as
   * SubmitBatch calls of up to 100 jobs, which costs the gateway and the
   * scheduler far less per job than one Submit each. Each call still gets its
   * own job or error. Default true; false sends one Submit per call.
   */
  batchSubmits?: boolean;
}

/** Returns the bearer token for the next call, or undefined to send none. */
export type TokenSource = () => Promise<string | undefined>;

export interface RequestOptions {
  /** Aborts the call, and the promise or iterator then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Job to submit: any JobSpec fields, with `input` as any byte array. */
export type SubmitSpec = Partial<Omit<JobSpec, 'input'>> & { input?: Uint8Array };

export interface ListOptions extends RequestOptions {
  /** Only jobs in this state, or every state when unset. */
  state?: JobState;
  /** Jobs per page from 1 to 500, or the gateway default (50) when unset. */
  pageSize?: number;
  /** `nextPageToken` of the previous page, or unset for the first page. */
  pageToken?: string;
}

export interface ListAllOptions extends RequestOptions {
  state?: JobState;
  /** Jobs per request from 1 to 500, or 500 when unset, so that a long listing takes few calls. */
  pageSize?: number;
  /** Maximum number of jobs to yield, or unset for all jobs. */
  limit?: number;
  /** `nextPageToken` of an earlier page to start after, or unset to start with the newest job. */
  pageToken?: string;
}

export interface LogsOptions extends RequestOptions {
  /** Byte offset into the job's combined output to start from. Default 0. */
  offset?: number;
  /** Keep streaming new output until the job has ended. Default false. */
  follow?: boolean;
}

/**
 * Typed client of `faas.v1.JobService`. Unary calls have a deadline and are
 * retried with backoff on UNAVAILABLE. `watch` and `logs` reopen their stream
 * after UNAVAILABLE and skip what they already yielded. Every failed call
 * throws FaasClientError, except an aborted one, which throws the signal's reason.
 */
export class FaasClient {
  readonly address: string;
  private readonly settings: CallSettings;
  private readonly stub: JobServiceClient;
  private readonly scaleStub: ObserverServiceClient;
  private readonly submitter: SubmitBatcher | undefined;

  constructor(options: FaasClientOptions = {}) {
    this.address = options.address ?? (process.env.FAAS_SERVER || defaultAddress);
    const deadlineMs = options.deadlineMs ?? 30_000;
    const retries = options.retries ?? 4;
    const streamRetries = options.streamRetries ?? retries;
    const token = options.token;

    if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) {
      throw new RangeError(`deadlineMs must be a positive number of milliseconds, got ${deadlineMs}`);
    }
    if (!Number.isInteger(retries) || retries < 0) {
      throw new RangeError(`retries must be a whole number from 0 up, got ${retries}`);
    }
    if (!Number.isInteger(streamRetries) || streamRetries < 0) {
      throw new RangeError(`streamRetries must be a whole number from 0 up, got ${streamRetries}`);
    }

    this.settings = {
      deadlineMs,
      retries,
      streamRetries,
      backoff: options.backoff ?? defaultBackoff,
      metadata: async () => {
        const metadata = new Metadata();
        const value = typeof token === 'function' ? await token() : token;
        if (value !== undefined) metadata.set('authorization', `Bearer ${value}`);
        return metadata;
      },
    };

    this.stub = new JobServiceClient(this.address, options.channelCredentials ?? credentials.createInsecure());
    this.scaleStub = new ObserverServiceClient(this.address, options.channelCredentials ?? credentials.createInsecure());
    if (options.batchSubmits ?? true) {
      this.submitter = new SubmitBatcher({
        single: (request, signal) => this.submitAlone(request, signal),
        batch: (requests) => callUnary(this.settings, this.stub.submitBatch.bind(this.stub), { requests }, undefined),
      });
    }
  }

  /** Closes the channels to the gateway. */
  close(): void {
    this.stub.close();
    this.scaleStub.close();
  }

  /** Returns the autoscaler's latest decision. Admins only. */
  async scale(options: RequestOptions = {}): Promise<ScaleResponse> {
    return callUnary(this.settings, this.scaleStub.scale.bind(this.scaleStub), {}, options.signal);
  }

  /** Returns recent changes of the desired worker count, newest first. Admins only. */
  async scaleEvents(limit = 0, options: RequestOptions = {}): Promise<ListScaleEventsResponse> {
    checkEventLimit(limit);
    return callUnary(this.settings, this.scaleStub.listScaleEvents.bind(this.scaleStub), { limit }, options.signal);
  }

  /**
   * Submits a job. Sets a random idempotency key when `spec` has none, so the
   * retries after UNAVAILABLE, which send the same key, cannot queue the job
   * twice. Calls made in the same turn of the event loop, such as those of a
   * `Promise.all`, travel together as SubmitBatch calls (see `batchSubmits`).
   */
  async submit(spec: SubmitSpec, options: RequestOptions = {}): Promise<SubmitResponse> {
    const { input, ...fields } = spec;
    const jobSpec = JobSpec.fromPartial({
      ...fields,
      input: input === undefined ? undefined : Buffer.from(input.buffer, input.byteOffset, input.byteLength),
      idempotencyKey: spec.idempotencyKey || randomUUID(),
    });
    checkSpec(jobSpec);
    const request = SubmitRequest.fromPartial({ spec: jobSpec });
    if (this.submitter) return this.submitter.submit(request, options.signal);
    return this.submitAlone(request, options.signal);
  }

  /** Sends one Submit call, with the client's deadline and retries. */
  private submitAlone(request: SubmitRequest, signal: AbortSignal | undefined): Promise<SubmitResponse> {
    return callUnary(this.settings, this.stub.submit.bind(this.stub), request, signal);
  }

  /** Returns the job's current record. */
  async status(jobId: string, options: RequestOptions = {}): Promise<Job> {
    const request = StatusRequest.fromPartial({ jobId });
    const response = await callUnary(this.settings, this.stub.status.bind(this.stub), request, options.signal);
    return requireJob(response.job, 'Status');
  }

  /** Returns the job and its result. FAILED_PRECONDITION while the job has not finished. */
  async result(jobId: string, options: RequestOptions = {}): Promise<ResultResponse> {
    const request = ResultRequest.fromPartial({ jobId });
    return callUnary(this.settings, this.stub.result.bind(this.stub), request, options.signal);
  }

  /** Returns one page of the caller's jobs, newest first. */
  async list(options: ListOptions = {}): Promise<ListResponse> {
    checkPageSize(options.pageSize ?? 0);
    const request = ListRequest.fromPartial({
      state: options.state,
      pageSize: options.pageSize,
      pageToken: options.pageToken,
    });
    return callUnary(this.settings, this.stub.list.bind(this.stub), request, options.signal);
  }

  /** Yields the caller's jobs, newest first, requesting page after page until the last or `limit`. */
  async *listAll(options: ListAllOptions = {}): AsyncGenerator<Job> {
    for await (const page of this.listPages(options)) yield* page.jobs;
  }

  /**
   * Yields the pages of the caller's jobs, newest first, until the last page
   * or until `limit` jobs. The pages hold `limit` jobs in all at most, so the
   * `nextPageToken` of the last one yielded continues right after them.
   */
  async *listPages(options: ListAllOptions = {}): AsyncGenerator<ListResponse> {
    const limit = options.limit ?? Infinity;
    const seenTokens = new Set<string>();
    let pageToken = options.pageToken ?? '';
    let yielded = 0;

    while (yielded < limit) {
      const remaining = limit - yielded;
      const pageSize = Math.min(options.pageSize ?? maxPageSize, remaining);
      const page = await this.list({ state: options.state, pageSize, pageToken, signal: options.signal });
      const jobs = page.jobs.slice(0, remaining);
      yielded += jobs.length;
      yield { ...page, jobs };
      if (page.nextPageToken === '') return;

      // A token seen before would repeat pages forever.
      if (seenTokens.has(page.nextPageToken)) {
        throw new FaasClientError(GrpcStatus.INTERNAL, `the gateway returned page token ${page.nextPageToken} twice`);
      }
      seenTokens.add(page.nextPageToken);
      pageToken = page.nextPageToken;
    }
  }

  /**
   * Cancels a job and returns its record: CANCELLED, or RUNNING with
   * `cancelRequested` set while the worker stops it.
   */
  async cancel(jobId: string, reason = '', options: RequestOptions = {}): Promise<Job> {
    const request = CancelRequest.fromPartial({ jobId, reason });
    const response = await callUnary(this.settings, this.stub.cancel.bind(this.stub), request, options.signal);
    return requireJob(response.job, 'Cancel');
  }

  /**
   * Yields the job's record after each change, starting with the changes
   * before the call, and ends after a final state. After a reconnect the
   * gateway replays the history, and records already yielded are skipped.
   */
  watch(jobId: string, options: RequestOptions = {}): AsyncGenerator<Job> {
    const request = WatchRequest.fromPartial({ jobId });
    const yieldedRecords = new Set<string>();

    const accept = (response: WatchResponse): Job | undefined => {
      if (response.job === undefined) return undefined;
      const key = Buffer.from(Job.encode(response.job).finish()).toString('base64');
      if (yieldedRecords.has(key)) return undefined;
      yieldedRecords.add(key);
      return response.job;
    };

    return readResumable(this.settings, (metadata) => this.stub.watch(request, metadata), accept, options.signal);
  }

  /**
   * Yields chunks of the job's combined output from `offset`. After a
   * reconnect the stream resumes at the end of the last chunk yielded, and
   * bytes the gateway sends again are cut off, so no byte is yielded twice.
   */
  logs(jobId: string, options: LogsOptions = {}): AsyncGenerator<LogsResponse> {
    let nextOffset = options.offset ?? 0;

    const accept = (chunk: LogsResponse): LogsResponse | undefined => {
      const end = chunk.offset + chunk.data.length;
      if (end <= nextOffset) return undefined;

      const overlap = Math.max(0, nextOffset - chunk.offset);
      nextOffset = end;
      if (overlap === 0) return chunk;
      return { ...chunk, offset: chunk.offset + overlap, data: chunk.data.subarray(overlap) };
    };

    const open = (metadata: Metadata): ClientReadableStream<LogsResponse> => {
      checkOffset(nextOffset);
      const request = LogsRequest.fromPartial({ jobId, offset: nextOffset, follow: options.follow ?? false });
      return this.stub.logs(request, metadata);
    };

    return readResumable(this.settings, open, accept, options.signal);
  }
}

function requireJob(job: Job | undefined, method: string): Job {
  if (job === undefined) {
    throw new FaasClientError(GrpcStatus.INTERNAL, `the gateway returned a ${method} response without a job`);
  }
  return job;
}
