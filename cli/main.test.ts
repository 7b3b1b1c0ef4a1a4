import { join } from 'node:path';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { status as GrpcStatus, type ServerErrorResponse, type ServerWritableStream } from '@grpc/grpc-js';
import { startTestServer, type TestServer } from '../client/test-server.js';
import { FailureReason, Job, JobPhase, JobState, LogStream } from '../gen/faas/v1/job.js';
import {
  CancelResponse,
  ListResponse,
  LogsResponse,
  ResultResponse,
  StatusResponse,
  SubmitResponse,
  type JobServiceServer,
  type LogsRequest,
  type SubmitRequest,
  type WatchRequest,
  type WatchResponse,
} from '../gen/faas/v1/job_service.js';
import { InterruptedError, type CliIo } from './io.js';
import { main } from './main.js';

const jobId = '01hzzzzzzzzzzzzzzzzzzzzzzz';

class Collector extends Writable {
  private readonly chunks: Buffer[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    callback();
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

interface TestIo extends CliIo {
  stdout: Collector;
  stderr: Collector;
}

function makeIo(options: { stdin?: string; signal?: AbortSignal } = {}): TestIo {
  return {
    stdout: new Collector(),
    stderr: new Collector(),
    stdin: Readable.from([Buffer.from(options.stdin ?? '')]),
    // A folder that never exists, so no stored login of the person running the tests is used.
    env: { FAAS_CONFIG_DIR: join(tmpdir(), 'faas-cli-test-no-credentials') },
    signal: options.signal,
  };
}

function statusError(code: GrpcStatus, details: string): ServerErrorResponse {
  return Object.assign(new Error(details), { code, details });
}

function jobIn(state: JobState, fields: Partial<Job> = {}): Job {
  return Job.fromPartial({
    id: jobId,
    state,
    createdAt: new Date('2025-03-01T10:00:00Z'),
    spec: { repositoryUrl: 'https://example.com/r.git' },
    ...fields,
  });
}

/** Handlers of a job that runs, writes one line to each stream and ends in `final`. */
function runningJobHandlers(final: Job, submitted: SubmitRequest[] = []): Partial<JobServiceServer> {
  return {
    submit: (call, callback) => {
      submitted.push(call.request);
      callback(null, SubmitResponse.fromPartial({ job: jobIn(JobState.JOB_STATE_QUEUED) }));
    },
    watch: (call: ServerWritableStream<WatchRequest, WatchResponse>) => {
      call.write({ job: jobIn(JobState.JOB_STATE_QUEUED) });
      call.write({ job: jobIn(JobState.JOB_STATE_RUNNING, { phase: JobPhase.JOB_PHASE_CLONING, attempt: 1 }) });
      call.write({ job: final });
      call.end();
    },
    logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
      call.write(LogsResponse.fromPartial({ offset: 0, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('out\n') }));
      call.write(LogsResponse.fromPartial({ offset: 4, stream: LogStream.LOG_STREAM_STDERR, data: Buffer.from('err\n') }));
      call.end();
    },
    status: (_call, callback) => callback(null, StatusResponse.fromPartial({ job: final })),
    result: (_call, callback) =>
      callback(
        null,
        ResultResponse.fromPartial({
          job: final,
          result: { exitCode: final.exitCode, stdout: Buffer.from('out\n'), stderr: Buffer.from('err\n') },
        }),
      ),
  };
}

describe('faas main', () => {
  let server: TestServer | undefined;

  afterEach(() => {
    server?.close();
    server = undefined;
  });

  async function serve(handlers: Partial<JobServiceServer>): Promise<string> {
    server = await startTestServer(handlers);
    return server.address;
  }

  describe('submit', () => {
    it('prints the job id', async () => {
      const submitted: SubmitRequest[] = [];
      const address = await serve(runningJobHandlers(jobIn(JobState.JOB_STATE_SUCCEEDED), submitted));
      const io = makeIo();

      const code = await main(
        ['submit', 'https://example.com/r.git', '--server', address, '--env', 'A=1', '--', 'bash', 'run.sh'],
        io,
      );

      assert.equal(code, 0);
      assert.equal(io.stdout.text(), `${jobId}\n`);
      assert.deepEqual(submitted[0].spec?.command, ['bash', 'run.sh']);
      assert.deepEqual(submitted[0].spec?.env, { A: '1' });
    });

    it('sends standard input with --input -', async () => {
      const submitted: SubmitRequest[] = [];
      const address = await serve(runningJobHandlers(jobIn(JobState.JOB_STATE_SUCCEEDED), submitted));

      const code = await main(
        ['submit', 'https://example.com/r.git', '--server', address, '--input', '-'],
        makeIo({ stdin: 'payload' }),
      );

      assert.equal(code, 0);
      assert.equal(submitted[0].spec?.input.toString(), 'payload');
    });

    it('rejects an unreadable --input file', async () => {
      const io = makeIo();

      const code = await main(['submit', 'https://example.com/r.git', '--input', '/nonexistent/faas-input'], io);

      assert.equal(code, 2);
      assert.equal(io.stderr.text(), 'faas: --input: cannot read "/nonexistent/faas-input": no such file\nRun "faas help submit" for usage.\n');
    });

    it('follows output and exits with the job exit code', async () => {
      const final = jobIn(JobState.JOB_STATE_FAILED, {
        exitCode: 3,
        error: { reason: 1, message: 'the program exited with code 3' },
      });
      const address = await serve(runningJobHandlers(final));
      const io = makeIo();

      const code = await main(['submit', 'https://example.com/r.git', '--wait', '--server', address], io);

      assert.equal(code, 3);
      assert.equal(io.stdout.text(), 'out\n');
      assert.equal(
        io.stderr.text(),
        `faas: job ${jobId} submitted\nerr\nfaas: job ${jobId} failed with exit code 3\n`,
      );
    });

    it('reads the final state from the watch', async () => {
      const final = jobIn(JobState.JOB_STATE_SUCCEEDED, { exitCode: 0 });
      const address = await serve({
        ...runningJobHandlers(final),
        // The gateway's reply to a call whose token expired while the job ran.
        status: (_call, callback) => callback(statusError(GrpcStatus.UNAUTHENTICATED, 'invalid token: it has expired; get a new one (faas login)')),
      });
      const io = makeIo();

      const code = await main(['submit', 'https://example.com/r.git', '--wait', '--server', address], io);

      assert.equal(io.stderr.text(), `faas: job ${jobId} submitted\nerr\n`);
      assert.equal(code, 0);
    });

    it('gives the reason once when the worker already printed it', async () => {
      const message = 'repository http://127.0.0.1:1/nope.git was not found';
      const final = jobIn(JobState.JOB_STATE_FAILED, { error: { reason: FailureReason.FAILURE_REASON_CLONE_FAILED, message } });
      const handlers = runningJobHandlers(final);
      handlers.logs = (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
        call.write(LogsResponse.fromPartial({ offset: 0, stream: LogStream.LOG_STREAM_STDERR, data: Buffer.from(`faas: ${message}\n`) }));
        call.end();
      };
      const io = makeIo();

      const code = await main(['submit', 'https://example.com/r.git', '--wait', '--server', await serve(handlers)], io);

      assert.equal(code, 1);
      assert.equal(io.stderr.text(), `faas: job ${jobId} submitted\nfaas: ${message}\nfaas: job ${jobId} failed: see the line above\n`);
    });

    it('gives the reason once after retries that each printed it', async () => {
      const reason = 'could not fetch http://127.0.0.1:9/r.git: connection refused';
      const final = jobIn(JobState.JOB_STATE_FAILED, {
        error: { reason: FailureReason.FAILURE_REASON_CLONE_FAILED, message: `failed after 2 attempts; the last one: ${reason}` },
      });
      const handlers = runningJobHandlers(final);
      handlers.logs = (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
        const text = `faas: ${reason}\nfaas: attempt 2 starts\nfaas: ${reason}\n`;
        call.write(LogsResponse.fromPartial({ offset: 0, stream: LogStream.LOG_STREAM_STDERR, data: Buffer.from(text) }));
        call.end();
      };
      const io = makeIo();

      assert.equal(await main(['submit', 'https://example.com/r.git', '--wait', '--server', await serve(handlers)], io), 1);
      assert.match(io.stderr.text(), new RegExp(`faas: ${reason}\\nfaas: job ${jobId} failed after 2 attempts: see the line above\\n$`));
    });

    it('sends the limits and the retry policy given', async () => {
      const submitted: SubmitRequest[] = [];
      const address = await serve(runningJobHandlers(jobIn(JobState.JOB_STATE_SUCCEEDED), submitted));
      const options = ['--cpu', '50', '--pids', '64', '--disk', '2GiB', '--max-attempts', '2', '--retry-failed'];

      assert.equal(await main(['submit', 'https://example.com/r.git', '--server', address, ...options], makeIo()), 0);

      assert.deepEqual(submitted[0].spec?.limits, { memoryBytes: 0, pids: 64, cpuPercent: 50, fileSizeBytes: 0, openFiles: 0, diskBytes: 2 * 1024 ** 3 });
      assert.deepEqual(submitted[0].spec?.retry, { maxAttempts: 2, retryFailedRuns: true });
    });

    it('exits 124 for a timed-out job', async () => {
      const address = await serve(runningJobHandlers(jobIn(JobState.JOB_STATE_TIMED_OUT)));

      const code = await main(['submit', 'https://example.com/r.git', '--wait', '--server', address], makeIo());

      assert.equal(code, 124);
    });

    it('exits 130 for a cancelled job', async () => {
      const address = await serve(runningJobHandlers(jobIn(JobState.JOB_STATE_CANCELLED)));

      const code = await main(['submit', 'https://example.com/r.git', '--wait', '--server', address], makeIo());

      assert.equal(code, 130);
    });

    it('prints the final result as JSON with --wait --json', async () => {
      const address = await serve(runningJobHandlers(jobIn(JobState.JOB_STATE_SUCCEEDED, { exitCode: 0 })));
      const io = makeIo();

      const code = await main(['submit', 'https://example.com/r.git', '--wait', '--json', '--server', address], io);

      assert.equal(code, 0);
      const printed = JSON.parse(io.stdout.text());
      assert.equal(printed.job.state, 'JOB_STATE_SUCCEEDED');
      assert.equal(Buffer.from(printed.result.stdout, 'base64').toString(), 'out\n');
    });
  });

  describe('submit --wait output', () => {
    it('ends an open line on terminals only', async () => {
      const final = jobIn(JobState.JOB_STATE_FAILED, { exitCode: 3 });
      const handlers = runningJobHandlers(final);
      handlers.logs = (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
        call.write(LogsResponse.fromPartial({ offset: 0, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('partial') }));
        call.write(LogsResponse.fromPartial({ offset: 7, stream: LogStream.LOG_STREAM_STDERR, data: Buffer.from('warning') }));
        call.end();
      };
      const address = await serve(handlers);

      const piped = makeIo();
      assert.equal(await main(['submit', 'https://example.com/r.git', '--wait', '--server', address], piped), 3);
      assert.equal(piped.stdout.text(), 'partial');
      assert.match(piped.stderr.text(), new RegExp(`warning\\nfaas: job ${jobId} failed with exit code 3\\n$`));

      const terminal = makeIo();
      Object.assign(terminal.stdout, { isTTY: true });
      assert.equal(await main(['submit', 'https://example.com/r.git', '--wait', '--server', address], terminal), 3);
      assert.equal(terminal.stdout.text(), 'partial\n');
    });
  });

  describe('status', () => {
    /** Runs faas status against a gateway that returns `job`, and returns the exit code and the lines printed. */
    async function printStatus(job: Job): Promise<{ code: number; text: string; lines: string[] }> {
      const address = await serve({ status: (_call, callback) => callback(null, StatusResponse.fromPartial({ job })) });
      const io = makeIo();
      const code = await main(['status', jobId, '--server', address], io);
      const text = io.stdout.text();
      return { code, text, lines: text.split('\n') };
    }

    it('prints the requested timeout, limits and retry policy', async () => {
      const job = jobIn(JobState.JOB_STATE_QUEUED, {
        spec: {
          repositoryUrl: 'https://example.com/r.git',
          timeoutSeconds: 60,
          limits: { memoryBytes: 256 * 1024 * 1024, cpuPercent: 50, pids: 0, openFiles: 0, fileSizeBytes: 0, diskBytes: 2 * 1024 ** 3 },
          retry: { maxAttempts: 3, retryFailedRuns: true },
        } as Job['spec'],
      });
      const { code, text, lines } = await printStatus(job);

      assert.equal(code, 0);
      assert.ok(lines.includes('timeout:    60 s'), text);
      assert.ok(lines.includes('limits:     memory 256 MiB, cpu 50%, disk 2 GiB (requested; a worker may lower them)'), text);
      assert.ok(lines.includes('retry:      up to 3 attempts, failed runs included'), text);
    });

    it('prints the convention entrypoint, its arguments and the names of the variables', async () => {
      const job = jobIn(JobState.JOB_STATE_QUEUED, {
        spec: { repositoryUrl: 'https://example.com/r.git', args: ['x y', '--z'], env: { WHO: 'me', TOKEN: 'secret-value' } } as unknown as Job['spec'],
        entrypoint: 'main.py',
      });
      const { code, text, lines } = await printStatus(job);

      assert.equal(code, 0);
      assert.ok(lines.includes("arguments:  'x y' --z"), text);
      assert.ok(lines.includes('env:        WHO, TOKEN'), text);
      assert.ok(lines.includes('entrypoint: main.py (found by convention)'), text);
      assert.ok(!lines.some((line) => line.startsWith('command:')), text);
      assert.doesNotMatch(text, /secret-value/);
    });
  });

  describe('result', () => {
    it('prints both streams and exits with the exit code', async () => {
      const address = await serve(runningJobHandlers(jobIn(JobState.JOB_STATE_FAILED, { exitCode: 7 })));
      const io = makeIo();

      const code = await main(['result', jobId, '--server', address], io);

      assert.equal(code, 7);
      assert.equal(io.stdout.text(), 'out\n');
      assert.match(io.stderr.text(), /^err\nfaas: job \S+ failed with exit code 7\n$/);
    });

    it('names cut streams on a new line', async () => {
      const final = jobIn(JobState.JOB_STATE_FAILED, { exitCode: 3 });
      const address = await serve({
        result: (_call, callback) =>
          callback(null, ResultResponse.fromPartial({
            job: final,
            result: { exitCode: 3, stdout: Buffer.from('partial'), stderr: Buffer.alloc(1024 * 1024, 'e'), stderrTruncated: true, outputBytes: 3 * 1024 * 1024 + 7 },
          })),
      });
      const piped = makeIo();
      assert.equal(await main(['result', jobId, '--server', address], piped), 3);
      // A pipe gets the job's stdout as it was.
      assert.equal(piped.stdout.text(), 'partial');
      const notes = piped.stderr.text().slice(1024 * 1024);
      assert.equal(
        notes,
        `\nfaas: the result keeps only the first 1 MiB of stderr, of 3 MiB the job wrote to both streams; "faas logs ${jobId}" prints all of it\n` +
          `faas: job ${jobId} failed with exit code 3\n`,
      );

      // A job stopped at the output limit has only that much in its log.
      const flooded = jobIn(JobState.JOB_STATE_FAILED, {
        signal: 'SIGKILL',
        error: { reason: FailureReason.FAILURE_REASON_OUTPUT_LIMIT, message: 'the job wrote more than 64 MiB of output' },
      });
      const floodAddress = await serve({
        result: (_call, callback) =>
          callback(null, ResultResponse.fromPartial({
            job: flooded,
            result: { signal: 'SIGKILL', stdout: Buffer.alloc(16, 'x'), stdoutTruncated: true, outputBytes: 65 * 1024 * 1024 },
          })),
      });
      const floodIo = makeIo();
      assert.equal(await main(['result', jobId, '--server', floodAddress], floodIo), 137);
      assert.match(floodIo.stderr.text(), new RegExp(`of 65 MiB the job wrote to both streams; "faas logs ${jobId}" prints the output up to the limit\n`));

      // A terminal gets the open line ended, or the prompt would hide it.
      const terminal = makeIo();
      Object.assign(terminal.stdout, { isTTY: true });
      assert.equal(await main(['result', jobId, '--server', address], terminal), 3);
      assert.equal(terminal.stdout.text(), 'partial\n');
    });

    it('does not repeat the reason that the job\'s stderr already gives', async () => {
      const message = 'ref nope was not found in https://example.com/r.git';
      const final = jobIn(JobState.JOB_STATE_FAILED, { error: { reason: FailureReason.FAILURE_REASON_CLONE_FAILED, message } });
      const address = await serve({
        result: (_call, callback) =>
          callback(null, ResultResponse.fromPartial({ job: final, result: { stderr: Buffer.from(`faas: ${message}\n`) } })),
      });
      const io = makeIo();

      assert.equal(await main(['result', jobId, '--server', address], io), 1);
      assert.equal(io.stderr.text(), `faas: ${message}\nfaas: job ${jobId} failed: see the line above\n`);
    });

    it('exits 130 for a job cancelled before it ran', async () => {
      const address = await serve({
        result: (_call, callback) =>
          callback(statusError(GrpcStatus.FAILED_PRECONDITION, 'job was cancelled before it ran')),
        status: (_call, callback) =>
          callback(null, StatusResponse.fromPartial({ job: jobIn(JobState.JOB_STATE_CANCELLED) })),
      });
      const io = makeIo();

      const code = await main(['result', jobId, '--server', address], io);

      assert.equal(code, 130);
      assert.match(io.stderr.text(), /has no result because it never ran/);
    });
  });

  describe('errors', () => {
    it('prints NOT_FOUND as one line and exits 1', async () => {
      const address = await serve({
        status: (call, callback) => callback(statusError(GrpcStatus.NOT_FOUND, `job ${call.request.jobId} not found`)),
      });
      const io = makeIo();

      const code = await main(['status', 'nope', '--server', address], io);

      assert.equal(code, 1);
      assert.equal(io.stderr.text(), 'faas: NOT_FOUND: job nope not found\n');
      assert.equal(io.stdout.text(), '');
    });

    it('says that an UNAVAILABLE answer came from the gateway', async () => {
      const address = await serve({
        status: (_call, callback) => callback(statusError(GrpcStatus.UNAVAILABLE, 'the scheduler is unavailable')),
      });
      const io = makeIo();

      assert.equal(await main(['status', jobId, '--server', address], io), 1);
      assert.equal(io.stderr.text(), `faas: UNAVAILABLE: the scheduler is unavailable (answered by the gateway at ${address}; try again shortly)\n`);
    });

    it('asks for a retry once', async () => {
      const address = await serve({
        status: (_call, callback) => callback(statusError(GrpcStatus.UNAVAILABLE, 'a platform service is unavailable; retry shortly')),
      });
      const io = makeIo();

      assert.equal(await main(['status', jobId, '--server', address], io), 1);
      assert.equal(io.stderr.text(), `faas: UNAVAILABLE: a platform service is unavailable; retry shortly (answered by the gateway at ${address})\n`);
    });

    it('exits 2 for a usage error', async () => {
      const io = makeIo();

      const code = await main(['submit', 'https://example.com/r.git', '--env', 'NOEQUALS'], io);

      assert.equal(code, 2);
      assert.equal(io.stderr.text(), 'faas: --env: expected KEY=VALUE, got "NOEQUALS"\nRun "faas help submit" for usage.\n');
    });

    it('lists the commands on stderr and exits 2 without arguments', async () => {
      const io = makeIo();

      assert.equal(await main([], io), 2);
      assert.match(io.stderr.text(), /^faas: missing command\n\nfaas runs git repositories as jobs/);
      assert.match(io.stderr.text(), /\n  submit   Submit a repository as a job/);
      assert.equal(io.stdout.text(), '');
    });

    it('prints the version', async () => {
      const io = makeIo();

      assert.equal(await main(['--version'], io), 0);
      assert.match(io.stdout.text(), /^faas \d+\.\d+\.\d+\n$/);
    });

    it('names an unreachable gateway in plain words', async () => {
      const io = makeIo();

      // Nothing listens on port 1 of the loopback address, so the connection is refused.
      assert.equal(await main(['status', jobId, '--server', '127.0.0.1:1'], io), 1);
      assert.equal(
        io.stderr.text(),
        'faas: UNAVAILABLE: cannot reach the gateway at 127.0.0.1:1 (connection refused); start it, or set --server or FAAS_SERVER to use another\n',
      );
    });

    it('exits 2 for a --server that is not HOST:PORT', async () => {
      const io = makeIo();

      assert.equal(await main(['status', jobId, '--server', 'notahostport'], io), 2);
      assert.equal(io.stderr.text(), 'faas: --server: "notahostport" is not HOST:PORT, such as 127.0.0.1:50051\nRun "faas help" for usage.\n');
    });

    it('exits 2 for an invalid FAAS_SERVER', async () => {
      const io = makeIo();
      io.env.FAAS_SERVER = 'nowhere';

      const code = await main(['status', jobId], io);

      assert.equal(code, 2);
      assert.match(io.stderr.text(), /^faas: FAAS_SERVER=nowhere is invalid/);
    });

    it('exits 130 when interrupted', async () => {
      const controller = new AbortController();
      const address = await serve({
        logs: (call: ServerWritableStream<LogsRequest, LogsResponse>) => {
          call.write(LogsResponse.fromPartial({ offset: 0, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('x') }));
          setTimeout(() => controller.abort(new InterruptedError()), 20);
        },
      });

      const code = await main(['logs', jobId, '--follow', '--server', address], makeIo({ signal: controller.signal }));

      assert.equal(code, 130);
    });
  });

  describe('list, watch and cancel', () => {
    it('prints every page as a table', async () => {
      const address = await serve({
        list: (call, callback) => {
          const second = call.request.pageToken === 'page-2';
          const job = jobIn(JobState.JOB_STATE_RUNNING, {
            id: second ? 'job-b' : 'job-a',
            phase: JobPhase.JOB_PHASE_BUILDING,
            attempt: 2,
          });
          callback(null, ListResponse.fromPartial({ jobs: [job], nextPageToken: second ? '' : 'page-2' }));
        },
      });
      const io = makeIo();

      const code = await main(['list', '--server', address], io);

      assert.equal(code, 0);
      assert.equal(
        io.stdout.text(),
        [
          'ID     STATE    PHASE     ATTEMPT  CREATED               REPOSITORY',
          'job-a  running  building  2        2025-03-01T10:00:00Z  https://example.com/r.git',
          'job-b  running  building  2        2025-03-01T10:00:00Z  https://example.com/r.git',
          '',
        ].join('\n'),
      );
    });

    it('adds an owner column for several owners', async () => {
      const address = await serve({
        list: (_call, callback) => {
          const jobs = ['alice', 'bob'].map((owner, index) => jobIn(JobState.JOB_STATE_SUCCEEDED, { id: `job-${index}`, owner }));
          callback(null, ListResponse.fromPartial({ jobs }));
        },
      });
      const io = makeIo();

      assert.equal(await main(['list', '--server', address], io), 0);
      const [header, first, second] = io.stdout.text().split('\n');
      assert.match(header, /CREATED {15}OWNER {2}REPOSITORY$/);
      assert.match(first, /^job-0 .* alice {2}https:/);
      assert.match(second, /^job-1 .* bob {4}https:/);
    });

    it('prints an empty list', async () => {
      const address = await serve({ list: (_call, callback) => callback(null, ListResponse.fromPartial({})) });

      const json = makeIo();
      assert.equal(await main(['list', '--json', '--server', address], json), 0);
      assert.deepEqual(JSON.parse(json.stdout.text()), { jobs: [] });

      const table = makeIo();
      assert.equal(await main(['list', '--page-token', '01hzzzzzzzzzzzzzzzzzzzzzz1', '--server', address], table), 0);
      assert.equal(table.stderr.text(), 'faas: no jobs after page token 01hzzzzzzzzzzzzzzzzzzzzzz1\n');
    });

    it('prints one watch line per change', async () => {
      const finished = jobIn(JobState.JOB_STATE_SUCCEEDED, { attempt: 1, finishedAt: new Date('2025-03-01T10:00:07Z') });
      const address = await serve(runningJobHandlers(finished));
      const io = makeIo();

      const code = await main(['watch', jobId, '--server', address], io);

      assert.equal(code, 0);
      const lines = io.stdout.text().trimEnd().split('\n');
      assert.equal(lines.length, 3);
      // Queued and final changes carry the record's own times. Cloning without a start time gets the time of receipt.
      assert.equal(lines[0], '2025-03-01T10:00:00Z  queued     -         attempt 0');
      assert.match(lines[1], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}running {4}cloning {3}attempt 1$/);
      assert.doesNotMatch(lines[1], /^2025-03-01/);
      assert.equal(lines[2], '2025-03-01T10:00:07Z  succeeded  -         attempt 1');
    });

    it('dates each watch line with the time the change was stored', async () => {
      const running = jobIn(JobState.JOB_STATE_RUNNING, { phase: JobPhase.JOB_PHASE_RUNNING, attempt: 1, updatedAt: new Date('2025-03-01T10:00:03Z') });
      const finished = jobIn(JobState.JOB_STATE_SUCCEEDED, { attempt: 1, finishedAt: new Date('2025-03-01T10:00:05Z'), updatedAt: new Date('2025-03-01T10:00:05Z') });
      const address = await serve({
        watch: (call: ServerWritableStream<WatchRequest, WatchResponse>) => {
          call.write({ job: running });
          call.write({ job: finished });
          call.end();
        },
      });
      const io = makeIo();

      assert.equal(await main(['watch', jobId, '--server', address], io), 0);
      assert.deepEqual(io.stdout.text().trimEnd().split('\n'), [
        '2025-03-01T10:00:03Z  running    running   attempt 1',
        '2025-03-01T10:00:05Z  succeeded  -         attempt 1',
      ]);
    });

    it('marks a cancel request in watch', async () => {
      const running = jobIn(JobState.JOB_STATE_RUNNING, { phase: JobPhase.JOB_PHASE_RUNNING, attempt: 1, updatedAt: new Date('2025-03-01T10:00:03Z') });
      const address = await serve({
        watch: (call: ServerWritableStream<WatchRequest, WatchResponse>) => {
          call.write({ job: running });
          call.write({ job: { ...running, cancelRequested: true, updatedAt: new Date('2025-03-01T10:00:04Z') } });
          call.write({ job: jobIn(JobState.JOB_STATE_CANCELLED, { attempt: 1, updatedAt: new Date('2025-03-01T10:00:05Z') }) });
          call.end();
        },
      });
      const io = makeIo();

      assert.equal(await main(['watch', jobId, '--server', address], io), 130);
      assert.deepEqual(io.stdout.text().trimEnd().split('\n'), [
        '2025-03-01T10:00:03Z  running    running   attempt 1',
        '2025-03-01T10:00:04Z  running    running   attempt 1  cancel requested',
        '2025-03-01T10:00:05Z  cancelled  -         attempt 1',
      ]);
    });

    it('exits watch with the job code', async () => {
      const failed = jobIn(JobState.JOB_STATE_FAILED, { attempt: 1, exitCode: 3, updatedAt: new Date('2025-03-01T10:00:05Z') });
      const address = await serve(runningJobHandlers(failed));
      assert.equal(await main(['watch', jobId, '--server', address], makeIo()), 3);
    });

    it('ends watch of a failed job with the reason', async () => {
      const error = {
        reason: FailureReason.FAILURE_REASON_OUT_OF_MEMORY,
        message: 'ran out of its memory limit of 64 MiB and was killed; raise spec.limits.memory_bytes to give it more',
      };
      const address = await serve(runningJobHandlers(jobIn(JobState.JOB_STATE_FAILED, { attempt: 1, error })));
      const io = makeIo();

      assert.equal(await main(['watch', jobId, '--server', address], io), 1);
      assert.equal(io.stderr.text(), `faas: job ${jobId} failed: ran out of its memory limit of 64 MiB and was killed; raise --memory to give it more\n`);
    });

    it('prints the next page token and command when --limit leaves jobs out', async () => {
      const requests: Array<{ pageSize: number; pageToken: string }> = [];
      const address = await serve({
        list: (call, callback) => {
          requests.push({ pageSize: call.request.pageSize, pageToken: call.request.pageToken });
          const job = jobIn(JobState.JOB_STATE_SUCCEEDED, { id: '01hzzzzzzzzzzzzzzzzzzzzzz2' });
          callback(null, ListResponse.fromPartial({ jobs: [job], nextPageToken: '01hzzzzzzzzzzzzzzzzzzzzzz1' }));
        },
      });

      const io = makeIo();
      assert.equal(await main(['list', '--limit', '1', '--state', 'succeeded', '--page-token', '01hzzzzzzzzzzzzzzzzzzzzzz3', '--server', address], io), 0);
      assert.deepEqual(requests, [{ pageSize: 1, pageToken: '01hzzzzzzzzzzzzzzzzzzzzzz3' }]);
      assert.equal(io.stderr.text(), `faas: more jobs: faas list --state succeeded --limit 1 --server ${address} --page-token 01hzzzzzzzzzzzzzzzzzzzzzz1\n`);

      const json = makeIo();
      assert.equal(await main(['list', '--limit', '1', '--json', '--server', address], json), 0);
      assert.equal(JSON.parse(json.stdout.text()).nextPageToken, '01hzzzzzzzzzzzzzzzzzzzzzz1');
    });

    it('reports a cancelled job', async () => {
      const address = await serve({
        cancel: (_call, callback) =>
          callback(null, CancelResponse.fromPartial({ job: jobIn(JobState.JOB_STATE_CANCELLED) })),
      });
      const io = makeIo();

      const code = await main(['cancel', jobId, '--server', address], io);

      assert.equal(code, 0);
      assert.equal(io.stdout.text(), `job ${jobId} cancelled\n`);
    });
  });
});
