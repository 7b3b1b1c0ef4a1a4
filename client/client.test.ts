import assert from 'node:assert/strict';
import { status as GrpcStatus, type ServerErrorResponse, type ServerWritableStream } from '@grpc/grpc-js';
import { Job, JobState, LogStream } from '../gen/faas/v1/job.js';
import {
  ListResponse,
  LogsResponse,
  StatusResponse,
  SubmitResponse,
  type SubmitBatchEntry,
  WatchResponse,
  type ListRequest,
  type LogsRequest,
  type SubmitRequest,
  type WatchRequest,
} from '../gen/faas/v1/job_service.js';
import { FaasClient, type FaasClientOptions } from './client.js';
import { FaasClientError } from './errors.js';
import { startTestServer, type TestServer } from './test-server.js';
import type { JobServiceServer } from '../gen/faas/v1/job_service.js';

const jobId = '01hzzzzzzzzzzzzzzzzzzzzzzz';
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function statusError(code: GrpcStatus, details: string): ServerErrorResponse {
  return Object.assign(new Error(details), { code, details });
}

function logChunk(offset: number, text: string, stream = LogStream.LOG_STREAM_STDOUT): LogsResponse {
  return LogsResponse.fromPartial({ offset, stream, attempt: 1, data: Buffer.from(text) });
}

function jobIn(state: JobState, attempt: number): Job {
  return Job.fromPartial({ id: jobId, state, attempt, createdAt: new Date('2025-01-01T00:00:00Z') });
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function joinData(chunks: LogsResponse[]): string {
  return Buffer.concat(chunks.map((chunk) => chunk.data)).toString();
}

describe('FaasClient', () => {
  let server: TestServer | undefined;
  let client: FaasClient | undefined;

  afterEach(() => {
    client?.close();
    server?.close();
    client = undefined;
    server = undefined;
  });

  async function connect(handlers: Partial<JobServiceServer>, options: FaasClientOptions = {}): Promise<FaasClient> {
    server = await startTestServer(handlers);
    client = new FaasClient({
      address: server.address,
      backoff: { initialDelayMs: 1, maxDelayMs: 5 },
      ...options,
    });
    return client;
  }

  describe('submit', () => {
    it('sets a random idempotency key', async () => {
      const requests: SubmitRequest[] = [];
      const faas = await connect({
        submit: (call, callback) => {
          requests.push(call.request);
          callback(null, SubmitResponse.fromPartial({ job: { id: jobId } }));
        },
      });

      await faas.submit({ repositoryUrl: 'https://example.com/a.git' });
      await faas.submit({ repositoryUrl: 'https://example.com/a.git' });

      assert.match(requests[0].spec?.idempotencyKey ?? '', uuidPattern);
      assert.match(requests[1].spec?.idempotencyKey ?? '', uuidPattern);
      assert.notEqual(requests[0].spec?.idempotencyKey, requests[1].spec?.idempotencyKey);
    });

    it('retries UNAVAILABLE with the same key', async () => {
      const keys: string[] = [];
      const faas = await connect({
        submit: (call, callback) => {
          keys.push(call.request.spec?.idempotencyKey ?? '');
          if (keys.length < 3) {
            callback(statusError(GrpcStatus.UNAVAILABLE, 'queue unavailable'));
            return;
          }
          callback(null, SubmitResponse.fromPartial({ job: { id: jobId, state: JobState.JOB_STATE_QUEUED } }));
        },
      });

      const response = await faas.submit({ repositoryUrl: 'https://example.com/a.git', input: Buffer.from('in') });

      assert.equal(response.job?.id, jobId);
      assert.equal(keys.length, 3);
      assert.match(keys[0], uuidPattern);
      assert.deepEqual(new Set(keys).size, 1);
    });

    it('keeps the caller idempotency key', async () => {
      let received: SubmitRequest | undefined;
      const faas = await connect({
        submit: (call, callback) => {
          received = call.request;
          callback(null, SubmitResponse.fromPartial({ job: { id: jobId } }));
        },
      });

      await faas.submit({
        repositoryUrl: 'https://example.com/a.git',
        idempotencyKey: 'build-42',
        command: ['python3', 'main.py'],
        env: { MODE: 'fast' },
        input: new Uint8Array([104, 105]),
        timeoutSeconds: 60,
      });

      assert.equal(received?.spec?.idempotencyKey, 'build-42');
      assert.deepEqual(received?.spec?.command, ['python3', 'main.py']);
      assert.deepEqual(received?.spec?.env, { MODE: 'fast' });
      assert.equal(received?.spec?.input.toString(), 'hi');
      assert.equal(received?.spec?.timeoutSeconds, 60);
    });

    it('names a field that protobuf cannot carry instead of sending it', async () => {
      let calls = 0;
      const faas = await connect({
        submit: (_call, callback) => {
          calls++;
          callback(null, SubmitResponse.fromPartial({ job: { id: jobId } }));
        },
      });
      const url = 'https://example.com/a.git';
      const cases: Array<[Parameters<FaasClient['submit']>[0], string]> = [
        [{ repositoryUrl: url, timeoutSeconds: -1 }, 'spec.timeout_seconds: is -1; use a whole number from 0 to 4294967295, or 0 for the default'],
        [{ repositoryUrl: url, limits: { pids: 1.5 } as never }, 'spec.limits.pids: is 1.5; use a whole number from 0 to 4294967295, or 0 for the default'],
        [{ repositoryUrl: url, limits: { memoryBytes: 2 ** 60 } as never }, `spec.limits.memory_bytes: is ${2 ** 60}; use a whole number from 0 to 9007199254740991, or 0 for the default`],
        [{ repositoryUrl: url, retry: { maxAttempts: -2, retryFailedRuns: false } }, 'spec.retry.max_attempts: is -2; use a whole number from 0 to 4294967295, or 0 for the default'],
        [{ repositoryUrl: url, input: Buffer.alloc(2 * 1024 * 1024) }, 'spec.input: is 2097152 bytes; the limit is 1048576 bytes (1 MiB)'],
      ];
      for (const [spec, message] of cases) {
        await assert.rejects(faas.submit(spec), (error: unknown) => {
          assert.ok(error instanceof FaasClientError);
          assert.equal(error.codeName, 'INVALID_ARGUMENT');
          assert.equal(error.message, message);
          return true;
        });
      }
      assert.equal(calls, 0);
      await assert.rejects(collect(faas.logs(jobId, { offset: -5 })), /^FaasClientError: offset: is -5; use a whole number from 0/);
      for (const pageSize of [-1, 1.5]) {
        await assert.rejects(faas.list({ pageSize }), new RegExp(`^FaasClientError: page_size: is ${pageSize}; use a whole number from 0`));
      }
      await assert.rejects(faas.scaleEvents(-3), /^FaasClientError: limit: is -3; use a whole number from 0/);
    });

    it('stops after the retry limit', async () => {
      let calls = 0;
      const faas = await connect(
        {
          submit: (_call, callback) => {
            calls++;
            callback(statusError(GrpcStatus.UNAVAILABLE, 'queue unavailable'));
          },
        },
        { retries: 2 },
      );

      await assert.rejects(faas.submit({ repositoryUrl: 'https://example.com/a.git' }), (error: unknown) => {
        assert.ok(error instanceof FaasClientError);
        assert.equal(error.codeName, 'UNAVAILABLE');
        assert.equal(error.message, 'queue unavailable');
        return true;
      });
      assert.equal(calls, 3);
    });

    it('sends the bearer token', async () => {
      let authorization: unknown;
      const faas = await connect(
        {
          submit: (call, callback) => {
            authorization = call.metadata.get('authorization')[0];
            callback(null, SubmitResponse.fromPartial({ job: { id: jobId } }));
          },
        },
        { token: 'secret-token' },
      );

      await faas.submit({ repositoryUrl: 'https://example.com/a.git' });

      assert.equal(authorization, 'Bearer secret-token');
    });

    it('asks a token function before each call', async () => {
      const received: unknown[] = [];
      let issued = 0;
      const faas = await connect(
        {
          status: (call, callback) => {
            received.push(call.metadata.get('authorization')[0]);
            callback(null, StatusResponse.fromPartial({ job: { id: jobId } }));
          },
        },
        { token: async () => `token-${++issued}` },
      );

      await faas.status(jobId);
      await faas.status(jobId);

      assert.deepEqual(received, ['Bearer token-1', 'Bearer token-2']);
    });

    it('sends no header when the token function returns undefined', async () => {
      let headers: unknown[] | undefined;
      const faas = await connect(
        {
          status: (call, callback) => {
            headers = call.metadata.get('authorization');
            callback(null, StatusResponse.fromPartial({ job: { id: jobId } }));
          },
        },
        { token: async () => undefined },
      );

      await faas.status(jobId);

      assert.deepEqual(headers, []);
    });

    it('fails the call when the token function rejects', async () => {
      let calls = 0;
      const renewalFailure = new Error('renewal failed');
      const faas = await connect(
        {
          status: (_call, callback) => {
            calls++;
            callback(null, StatusResponse.fromPartial({ job: { id: jobId } }));
          },
          logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
            calls++;
            call.end();
          },
        },
        {
          token: async () => {
            throw renewalFailure;
          },
        },
      );

      await assert.rejects(faas.status(jobId), (error: unknown) => error === renewalFailure);
      await assert.rejects(collect(faas.logs(jobId)), (error: unknown) => error === renewalFailure);
      assert.equal(calls, 0);
    });
  });

  describe('batched submits', () => {
    const spec = { repositoryUrl: 'https://example.com/a.git' };

    /** Returns handlers that reply to SubmitBatch with `entry` for each request and record the requests. */
    function batchServer(entry: (request: SubmitRequest, index: number) => SubmitBatchEntry) {
      const batches: SubmitRequest[][] = [];
      const singles: SubmitRequest[] = [];
      const handlers: Partial<JobServiceServer> = {
        submitBatch: (call, callback) => {
          batches.push(call.request.requests);
          callback(null, { entries: call.request.requests.map(entry) });
        },
        submit: (call, callback) => {
          singles.push(call.request);
          callback(null, SubmitResponse.fromPartial({ job: { id: `single-${singles.length}` } }));
        },
      };
      return { batches, singles, handlers };
    }

    const accept = (request: SubmitRequest): SubmitBatchEntry => ({
      submitted: SubmitResponse.fromPartial({ job: { id: request.spec!.idempotencyKey } }),
    });

    it('batches concurrent calls, not lone ones', async () => {
      const { batches, singles, handlers } = batchServer(accept);
      const faas = await connect(handlers);

      const responses = await Promise.all(Array.from({ length: 5 }, (_, index) => faas.submit({ ...spec, idempotencyKey: `key-${index}` })));
      await faas.submit(spec);

      assert.deepEqual(responses.map((response) => response.job?.id), ['key-0', 'key-1', 'key-2', 'key-3', 'key-4']);
      assert.equal(batches.length, 1);
      assert.equal(batches[0].length, 5);
      assert.equal(singles.length, 1);
    });

    it('splits at 100 requests and at 4 MiB', async () => {
      const { batches, singles, handlers } = batchServer(accept);
      const faas = await connect(handlers);

      await Promise.all(Array.from({ length: 230 }, () => faas.submit(spec)));
      // Batches travel side by side, so they can arrive in any order.
      const sizes = () => batches.map((batch) => batch.length).sort((a, b) => b - a);
      assert.deepEqual(sizes(), [100, 100, 30]);

      batches.length = 0;
      const input = Buffer.alloc(1024 * 1024);
      await Promise.all(Array.from({ length: 5 }, () => faas.submit({ ...spec, input })));
      // Three inputs of 1 MiB and their specs fit in 4 MiB; a fourth does not.
      assert.deepEqual(sizes(), [3, 2]);
      assert.equal(singles.length, 0);
    });

    it('rejects only the failed entries', async () => {
      const { handlers } = batchServer((request, index) =>
        index === 1 ? { error: { code: GrpcStatus.RESOURCE_EXHAUSTED, message: 'you have 20 queued or running jobs' } } : accept(request),
      );
      const faas = await connect(handlers);

      const outcomes = await Promise.allSettled([faas.submit(spec), faas.submit(spec), faas.submit(spec)]);

      assert.deepEqual(outcomes.map((outcome) => outcome.status), ['fulfilled', 'rejected', 'fulfilled']);
      const error = (outcomes[1] as PromiseRejectedResult).reason as unknown;
      assert.ok(error instanceof FaasClientError);
      assert.equal(error.codeName, 'RESOURCE_EXHAUSTED');
      assert.equal(error.message, 'you have 20 queued or running jobs');
    });

    it('resends UNAVAILABLE entries alone', async () => {
      const { singles, handlers } = batchServer((request, index) =>
        index === 0 ? { error: { code: GrpcStatus.UNAVAILABLE, message: 'the job queue is unavailable; retry shortly' } } : accept(request),
      );
      const faas = await connect(handlers);

      const responses = await Promise.all([faas.submit({ ...spec, idempotencyKey: 'first' }), faas.submit(spec)]);

      assert.equal(responses[0].job?.id, 'single-1');
      assert.equal(singles.length, 1);
      assert.equal(singles[0].spec?.idempotencyKey, 'first');
    });

    it('falls back to Submit on UNIMPLEMENTED', async () => {
      const singles: SubmitRequest[] = [];
      const faas = await connect({
        submit: (call, callback) => {
          singles.push(call.request);
          callback(null, SubmitResponse.fromPartial({ job: { id: call.request.spec!.idempotencyKey } }));
        },
      });

      const first = await Promise.all([faas.submit(spec), faas.submit(spec)]);
      const second = await Promise.all([faas.submit(spec), faas.submit(spec)]);

      assert.equal(first.length + second.length, 4);
      assert.equal(singles.length, 4);
    });

    it('leaves aborted callers out', async () => {
      const { batches, handlers } = batchServer(accept);
      const faas = await connect(handlers);
      const controller = new AbortController();

      const first = faas.submit(spec);
      const aborted = faas.submit(spec, { signal: controller.signal });
      controller.abort(new Error('caller gave up'));
      const third = faas.submit(spec);

      await assert.rejects(aborted, /caller gave up/);
      await Promise.all([first, third]);
      assert.equal(batches.length, 1);
      assert.equal(batches[0].length, 2);
    });

    it('sends single Submits when batchSubmits is false', async () => {
      const { batches, singles, handlers } = batchServer(accept);
      const faas = await connect(handlers, { batchSubmits: false });

      await Promise.all([faas.submit(spec), faas.submit(spec), faas.submit(spec)]);

      assert.equal(batches.length, 0);
      assert.equal(singles.length, 3);
    });
  });

  describe('unary errors', () => {
    it('surfaces NOT_FOUND with its code name', async () => {
      let calls = 0;
      const faas = await connect({
        status: (call, callback) => {
          calls++;
          callback(statusError(GrpcStatus.NOT_FOUND, `job ${call.request.jobId} not found`));
        },
      });

      await assert.rejects(faas.status(jobId), (error: unknown) => {
        assert.ok(error instanceof FaasClientError);
        assert.equal(error.code, GrpcStatus.NOT_FOUND);
        assert.equal(error.codeName, 'NOT_FOUND');
        assert.equal(error.message, `job ${jobId} not found`);
        return true;
      });
      assert.equal(calls, 1);
    });

    it('fails with DEADLINE_EXCEEDED after deadlineMs', async () => {
      const faas = await connect({ status: () => undefined }, { deadlineMs: 100 });

      await assert.rejects(faas.status(jobId), (error: unknown) => {
        assert.ok(error instanceof FaasClientError);
        assert.equal(error.codeName, 'DEADLINE_EXCEEDED');
        return true;
      });
    });

    it('names a slow token function as the cause', async () => {
      let statusCalls = 0;
      const token = () => new Promise<string>((resolve) => setTimeout(() => resolve('token'), 150));
      const faas = await connect({ status: () => statusCalls++ }, { deadlineMs: 100, token });

      await assert.rejects(faas.status(jobId), (error: unknown) => {
        assert.ok(error instanceof FaasClientError);
        assert.equal(error.codeName, 'DEADLINE_EXCEEDED');
        const ran = /deadline of 100 ms passed before it was sent, while the token function ran for (\d+) ms/.exec(error.message);
        assert.ok(ran, error.message);
        assert.ok(Number(ran[1]) >= 100, `the token function ran for ${ran[1]} ms`);
        return true;
      });
      assert.equal(statusCalls, 0);
    });

    it('rejects with the abort reason', async () => {
      const faas = await connect({ status: () => undefined });
      const controller = new AbortController();
      const reason = new Error('stopped by test');

      const pending = faas.status(jobId, { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 20);

      await assert.rejects(pending, (error: unknown) => error === reason);
    });

    it('returns the job from status', async () => {
      const faas = await connect({
        status: (_call, callback) => callback(null, StatusResponse.fromPartial({ job: { id: jobId, attempt: 2 } })),
      });

      const job = await faas.status(jobId);

      assert.equal(job.id, jobId);
      assert.equal(job.attempt, 2);
    });
  });

  describe('logs', () => {
    it('resumes after UNAVAILABLE mid-stream', async () => {
      const requests: LogsRequest[] = [];
      const faas = await connect({
        logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
          requests.push(call.request);
          if (requests.length === 1) {
            call.write(logChunk(0, 'hello '));
            call.write(logChunk(6, 'wor', LogStream.LOG_STREAM_STDERR));
            call.emit('error', statusError(GrpcStatus.UNAVAILABLE, 'gateway restarting'));
            return;
          }
          call.write(logChunk(9, 'ld'));
          call.write(logChunk(11, '!'));
          call.end();
        },
      });

      const chunks = await collect(faas.logs(jobId, { follow: true }));

      assert.equal(joinData(chunks), 'hello world!');
      assert.deepEqual(
        chunks.map((chunk) => chunk.offset),
        [0, 6, 9, 11],
      );
      assert.equal(chunks[1].stream, LogStream.LOG_STREAM_STDERR);
      assert.deepEqual(
        requests.map((request) => request.offset),
        [0, 9],
      );
      assert.ok(requests.every((request) => request.follow));
    });

    it('cuts bytes the gateway sends again', async () => {
      let calls = 0;
      const faas = await connect({
        logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
          calls++;
          if (calls === 1) {
            call.write(logChunk(0, 'abc'));
            call.write(logChunk(3, 'def'));
            call.emit('error', statusError(GrpcStatus.UNAVAILABLE, 'gateway restarting'));
            return;
          }
          // Ignores the requested offset and repeats earlier output.
          call.write(logChunk(0, 'abc'));
          call.write(logChunk(3, 'defgh'));
          call.write(logChunk(8, 'ij'));
          call.end();
        },
      });

      const chunks = await collect(faas.logs(jobId));

      assert.equal(joinData(chunks), 'abcdefghij');
      assert.deepEqual(
        chunks.map((chunk) => chunk.offset),
        [0, 3, 6, 8],
      );
    });

    it('starts at the requested offset', async () => {
      let requested: LogsRequest | undefined;
      const faas = await connect({
        logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
          requested = call.request;
          call.write(logChunk(call.request.offset, 'tail'));
          call.end();
        },
      });

      const chunks = await collect(faas.logs(jobId, { offset: 100 }));

      assert.equal(requested?.offset, 100);
      assert.equal(requested?.follow, false);
      assert.equal(joinData(chunks), 'tail');
    });

    it('gives up after retries without progress', async () => {
      let calls = 0;
      const faas = await connect(
        {
          logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
            calls++;
            call.emit('error', statusError(GrpcStatus.UNAVAILABLE, 'gateway restarting'));
          },
        },
        { retries: 3 },
      );

      await assert.rejects(collect(faas.logs(jobId)), (error: unknown) => {
        assert.ok(error instanceof FaasClientError);
        assert.equal(error.codeName, 'UNAVAILABLE');
        return true;
      });
      assert.equal(calls, 4);
    });

    it('limits stream reopenings by progress', async () => {
      let calls = 0;
      let deliver = true;
      const faas = await connect(
        {
          logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
            calls++;
            if (deliver) call.write(logChunk(0, 'first'));
            deliver = false;
            call.emit('error', statusError(GrpcStatus.UNAVAILABLE, 'gateway restarting'));
          },
        },
        { retries: 1, streamRetries: 5, backoff: { initialDelayMs: 1, maxDelayMs: 2 } },
      );
      const isUnavailable = (error: unknown) => error instanceof FaasClientError && error.codeName === 'UNAVAILABLE';

      await assert.rejects(collect(faas.logs(jobId)), isUnavailable);
      assert.equal(calls, 1 + 5);

      calls = 0;
      await assert.rejects(collect(faas.logs(jobId)), isUnavailable);
      assert.equal(calls, 1 + 1);
    });

    it('does not retry NOT_FOUND', async () => {
      let calls = 0;
      const faas = await connect({
        logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
          calls++;
          call.emit('error', statusError(GrpcStatus.NOT_FOUND, `job ${jobId} not found`));
        },
      });

      await assert.rejects(collect(faas.logs(jobId)), (error: unknown) => {
        assert.ok(error instanceof FaasClientError);
        assert.equal(error.codeName, 'NOT_FOUND');
        assert.equal(error.message, `job ${jobId} not found`);
        return true;
      });
      assert.equal(calls, 1);
    });

    it('stops on abort and cancels the call', async () => {
      let serverCancelled: Promise<void> | undefined;
      const faas = await connect({
        logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
          serverCancelled = new Promise((resolve) => call.on('cancelled', () => resolve()));
          call.write(logChunk(0, 'first'));
        },
      });
      const controller = new AbortController();
      const reason = new Error('stopped by test');
      const received: string[] = [];

      await assert.rejects(
        (async () => {
          for await (const chunk of faas.logs(jobId, { follow: true, signal: controller.signal })) {
            received.push(chunk.data.toString());
            controller.abort(reason);
          }
        })(),
        (error: unknown) => error === reason,
      );

      assert.deepEqual(received, ['first']);
      await serverCancelled;
    });
  });

  describe('watch', () => {
    it('skips replayed records after a reconnect', async () => {
      const queued = jobIn(JobState.JOB_STATE_QUEUED, 0);
      const running = jobIn(JobState.JOB_STATE_RUNNING, 1);
      const succeeded = { ...jobIn(JobState.JOB_STATE_SUCCEEDED, 1), exitCode: 0 };
      let calls = 0;
      const faas = await connect({
        watch: (call: ServerWritableStream<WatchRequest, WatchResponse>) => {
          calls++;
          call.write({ job: queued });
          call.write({ job: running });
          if (calls === 1) {
            call.emit('error', statusError(GrpcStatus.UNAVAILABLE, 'gateway restarting'));
            return;
          }
          call.write({ job: succeeded });
          call.end();
        },
      });

      const jobs = await collect(faas.watch(jobId));

      assert.deepEqual(
        jobs.map((job) => job.state),
        [JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_SUCCEEDED],
      );
      assert.equal(calls, 2);
    });
  });

  describe('listAll', () => {
    function pagedList(total: number, requests: ListRequest[]): JobServiceServer['list'] {
      return (call, callback) => {
        requests.push(call.request);
        const start = call.request.pageToken === '' ? 0 : Number(call.request.pageToken);
        const size = call.request.pageSize || 2;
        const end = Math.min(total, start + size);
        const jobs = Array.from({ length: end - start }, (_, i) => Job.fromPartial({ id: `job-${start + i}` }));
        callback(null, ListResponse.fromPartial({ jobs, nextPageToken: end < total ? String(end) : '' }));
      };
    }

    it('follows page tokens to the last page', async () => {
      const requests: ListRequest[] = [];
      const faas = await connect({ list: pagedList(5, requests) });

      const jobs = await collect(faas.listAll({ state: JobState.JOB_STATE_RUNNING, pageSize: 2 }));

      assert.deepEqual(
        jobs.map((job) => job.id),
        ['job-0', 'job-1', 'job-2', 'job-3', 'job-4'],
      );
      assert.deepEqual(
        requests.map((request) => request.pageToken),
        ['', '2', '4'],
      );
      assert.ok(requests.every((request) => request.state === JobState.JOB_STATE_RUNNING));
    });

    it('asks for full pages by default', async () => {
      const requests: ListRequest[] = [];
      const faas = await connect({ list: pagedList(600, requests) });

      const jobs = await collect(faas.listAll());

      assert.equal(jobs.length, 600);
      assert.deepEqual(
        requests.map((request) => request.pageSize),
        [500, 500],
      );
    });

    it('stops at the limit', async () => {
      const requests: ListRequest[] = [];
      const faas = await connect({ list: pagedList(10, requests) });

      const jobs = await collect(faas.listAll({ limit: 3, pageSize: 2 }));

      assert.equal(jobs.length, 3);
      assert.deepEqual(
        requests.map((request) => request.pageSize),
        [2, 1],
      );
    });

    it('rejects a repeated page token', async () => {
      const faas = await connect({
        list: (_call, callback) => callback(null, ListResponse.fromPartial({ jobs: [], nextPageToken: 'same' })),
      });

      await assert.rejects(collect(faas.listAll()), (error: unknown) => {
        assert.ok(error instanceof FaasClientError);
        assert.equal(error.codeName, 'INTERNAL');
        return true;
      });
    });
  });
});
