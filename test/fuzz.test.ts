import assert from 'node:assert/strict';
import {
  Client,
  Metadata,
  credentials,
  status as GrpcStatus,
  type ChannelCredentials,
  type ClientDuplexStream,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { JobPhase, JobState, LogStream } from '../gen/faas/v1/job.js';
import {
  CancelRequest,
  ListRequest,
  LogsRequest,
  ResultRequest,
  StatusRequest,
  SubmitRequest,
  SubmitResponse,
  WatchRequest,
} from '../gen/faas/v1/job_service.js';
import { ConnectRequest, ConnectResponse } from '../gen/faas/worker/v1/worker_service.js';
import { maxMessageBytes } from '../common/grpc-server.js';
import { isFinal } from '../common/job-states.js';
import { meshChannelCredentials, meshChannelOptions, readMeshTls } from '../common/tls.js';
import { Mesh, finalRecord, waitFor } from './harness.js';

// Every call sends and receives raw bytes, so the fuzzer controls the exact
// wire encoding and nothing is checked or fixed up on the client side.
const identity = (value: Buffer): Buffer => value;

/** Deadline of every fuzzed call: a call still open after it counts as a hang. */
const callDeadlineMs = 5_000;
/** Calls in flight at once while a batch runs. */
const concurrency = 16;
/** Random bodies per gateway method and token variant. */
const randomBodiesPerMethod = 24;
/** Mutated copies of each valid request. */
const mutationsPerRequest = 12;
/** Random first messages sent on separate worker streams. */
const randomWorkerStreams = 12;

const gatewayMethods = {
  Submit: { path: '/faas.v1.JobService/Submit', stream: false },
  Status: { path: '/faas.v1.JobService/Status', stream: false },
  Result: { path: '/faas.v1.JobService/Result', stream: false },
  List: { path: '/faas.v1.JobService/List', stream: false },
  Watch: { path: '/faas.v1.JobService/Watch', stream: true },
  Logs: { path: '/faas.v1.JobService/Logs', stream: true },
  Cancel: { path: '/faas.v1.JobService/Cancel', stream: false },
} as const;
type GatewayMethod = keyof typeof gatewayMethods;
const methodNames = Object.keys(gatewayMethods) as GatewayMethod[];

/**
 * Status codes that a well-behaved service may return for a fuzzed request,
 * OK included because some inputs are still valid. INTERNAL, UNKNOWN and
 * DEADLINE_EXCEEDED (a hang) are findings.
 */
const acceptedCodes = new Set<number>([
  GrpcStatus.OK,
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.NOT_FOUND,
  GrpcStatus.ALREADY_EXISTS,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.OUT_OF_RANGE,
]);

interface CallOutcome {
  code: number;
  details: string;
  /** Response body of a successful unary call. */
  response?: Buffer;
}

/** One input whose status was not in the accepted set. */
interface Finding {
  target: string;
  input: string;
  code: number;
  details: string;
}

/** Small deterministic PRNG (mulberry32), so every run sends the same inputs. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomInt(random: () => number, below: number): number {
  return Math.floor(random() * below);
}

function randomBuffer(random: () => number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buffer[i] = randomInt(random, 256);
  return buffer;
}

/** Returns a copy of `input` with one to three random edits: flips, inserts, deletions, cuts or copies. */
function mutate(random: () => number, input: Buffer): Buffer {
  let bytes = Buffer.from(input);
  const edits = 1 + randomInt(random, 3);
  for (let edit = 0; edit < edits; edit++) {
    const at = randomInt(random, Math.max(bytes.length, 1));
    switch (randomInt(random, 6)) {
      case 0:
        if (bytes.length > 0) bytes[at] ^= 1 << randomInt(random, 8);
        break;
      case 1:
        bytes = Buffer.concat([bytes.subarray(0, at), randomBuffer(random, 1 + randomInt(random, 4)), bytes.subarray(at)]);
        break;
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
        break;
      case 3:
        bytes = bytes.subarray(0, at);
        break;
      case 4:
        if (bytes.length > 0) bytes[at] = [0x00, 0x7f, 0x80, 0xff][randomInt(random, 4)];
        break;
      default:
        bytes = Buffer.concat([bytes, bytes.subarray(at, at + 1 + randomInt(random, 16))]);
    }
  }
  return bytes;
}

function describeBytes(bytes: Buffer): string {
  const prefix = bytes.subarray(0, 48).toString('hex');
  return bytes.length > 48 ? `${bytes.length} bytes, starting ${prefix}` : `hex ${prefix || '(empty)'}`;
}

/** Builds a message by hand, field by field, so values and wire types can be anything. */
function message(build: (writer: BinaryWriter) => void): Buffer {
  const writer = new BinaryWriter();
  build(writer);
  return Buffer.from(writer.finish());
}

function stringField(writer: BinaryWriter, field: number, value: string | Uint8Array): BinaryWriter {
  writer.tag(field, WireType.LengthDelimited);
  return typeof value === 'string' ? writer.string(value) : writer.bytes(value);
}

function nested(writer: BinaryWriter, field: number, build: (inner: BinaryWriter) => void): void {
  writer.tag(field, WireType.LengthDelimited).fork();
  build(writer);
  writer.join();
}

/** Bytes that are not valid UTF-8: a lone continuation byte, an overlong slash and a cut sequence. */
const invalidUtf8 = Buffer.from([0x61, 0x80, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xe2, 0x82]);

async function runLimited<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await run(items[next++]);
  });
  await Promise.all(runners);
}

function unaryCall(client: Client, path: string, body: Buffer, metadata: Metadata): Promise<CallOutcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      body,
      metadata,
      { deadline: Date.now() + callDeadlineMs },
      (error: ServiceError | null, response?: Buffer) => {
        if (error) resolve({ code: error.code, details: error.details });
        else resolve({ code: GrpcStatus.OK, details: '', response });
      },
    );
  });
}

function serverStreamCall(client: Client, path: string, body: Buffer, metadata: Metadata): Promise<CallOutcome> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, identity, identity, body, metadata, {
      deadline: Date.now() + callDeadlineMs,
    });
    call.on('data', () => {});
    // The final status also arrives as 'status', which every call emits once.
    call.on('error', () => {});
    call.on('status', (status: StatusObject) => resolve({ code: status.code, details: status.details }));
  });
}

type DeepPartial<T> = T extends Buffer
  ? T
  : T extends Array<infer Item>
    ? Array<DeepPartial<Item>>
    : T extends object
      ? { [Key in keyof T]?: DeepPartial<T[Key]> }
      : T;

/** A ConnectRequest with any fields left out, which fromPartial fills with defaults. */
type WorkerReport = DeepPartial<ConnectRequest>;

function bearer(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

describe('fuzzing', function () {
  this.timeout(120_000);
  let mesh: Mesh;
  let gateway: Client;
  let scheduler: Client;
  let workerChannel: ChannelCredentials;
  let workerChannelOptions: Record<string, string | number>;
  let repositoryUrl: string;
  let finishedJobId: string;
  let foreignJobId: string;
  const tokens: Record<string, string | undefined> = {};
  const findings: Finding[] = [];
  const acceptedJobIds = new Set<string>();
  let workerCount = 0;

  function check(target: string, input: string, outcome: CallOutcome): void {
    if (!acceptedCodes.has(outcome.code)) {
      findings.push({ target, input, code: outcome.code, details: outcome.details });
    }
  }

  /** Fails the test with every finding since the last call, grouped by target, code and message. */
  function assertNoFindings(): void {
    const groups = new Map<string, { finding: Finding; count: number }>();
    for (const finding of findings.splice(0)) {
      const key = `${finding.target} ${finding.code} ${finding.details}`;
      const group = groups.get(key);
      if (group) group.count++;
      else groups.set(key, { finding, count: 1 });
    }
    const lines = [...groups.values()].map(
      ({ finding, count }) =>
        `${finding.target}: ${GrpcStatus[finding.code]} "${finding.details}" for ${count} input(s), first: ${finding.input}`,
    );
    assert.equal(lines.length, 0, `unexpected status codes:\n${lines.join('\n')}`);
  }

  async function callGateway(method: GatewayMethod, body: Buffer, token: string | undefined, input: string): Promise<void> {
    const { path, stream } = gatewayMethods[method];
    const metadata = bearer(token);
    const outcome = stream
      ? await serverStreamCall(gateway, path, body, metadata)
      : await unaryCall(gateway, path, body, metadata);
    check(`gateway ${method}`, input, outcome);
    if (method === 'Submit' && outcome.response) {
      acceptedJobIds.add(SubmitResponse.decode(outcome.response).job!.id);
    }
  }

  function openWorkerStream(): { stream: ClientDuplexStream<Buffer, Buffer>; responses: ConnectResponse[]; status: Promise<StatusObject> } {
    const stream = scheduler.makeBidiStreamRequest('/faas.worker.v1.WorkerService/Connect', identity, identity, new Metadata(), {
      deadline: Date.now() + callDeadlineMs * 2,
    });
    const responses: ConnectResponse[] = [];
    stream.on('data', (data: Buffer) => responses.push(ConnectResponse.decode(data)));
    stream.on('error', () => {});
    const status = new Promise<StatusObject>((resolve) => stream.on('status', resolve));
    return { stream, responses, status };
  }

  /**
   * Sends `messages` on a new worker stream, half-closes it and checks the
   * final status. A scheduler drops a worker that misses its heartbeats with
   * DEADLINE_EXCEEDED, which is a valid status, unlike the client's own deadline.
   */
  async function workerSession(
    input: string,
    messages: Buffer[],
    then?: (responses: ConnectResponse[], write: (data: Buffer) => void) => Promise<void>,
  ): Promise<void> {
    const { stream, responses, status } = openWorkerStream();
    for (const data of messages) stream.write(data);
    await then?.(responses, (data) => stream.write(data));
    stream.end();
    const final = await status;
    const droppedForSilence = final.code === GrpcStatus.DEADLINE_EXCEEDED && /no heartbeat/.test(final.details);
    check('scheduler WorkerService.Connect', input, droppedForSilence ? { code: GrpcStatus.OK, details: '' } : final);
  }

  function hello(workerId = `fuzz-worker-${workerCount++}`, slots = 1): Buffer {
    return Buffer.from(ConnectRequest.encode({ hello: { workerId, protocolVersion: 1, slots, hostname: 'fuzz', running: [] } }).finish());
  }

  function connectRequest(request: WorkerReport): Buffer {
    return Buffer.from(ConnectRequest.encode(ConnectRequest.fromPartial(request as ConnectRequest)).finish());
  }

  /** Accepts the next assignment on a hand-made worker stream and finishes it as SUCCEEDED. */
  async function completeJobByHand(): Promise<string> {
    const { stream, responses, status } = openWorkerStream();
    stream.write(hello('fuzz-completer'));
    await waitFor(() => responses.some((response) => response.assignment), 5_000, 'an assignment');
    const { jobId, attempt } = responses.find((response) => response.assignment)!.assignment!;
    stream.write(connectRequest({ update: { jobId, attempt, phase: JobPhase.JOB_PHASE_RUNNING, commitSha: '' } }));
    stream.write(connectRequest({ log: { jobId, attempt, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('done\n') } }));
    stream.write(
      connectRequest({
        outcome: {
          jobId,
          attempt,
          state: JobState.JOB_STATE_SUCCEEDED,
          commitSha: '',
          result: {
            exitCode: 0,
            signal: '',
            stdout: Buffer.from('done\n'),
            stderr: Buffer.alloc(0),
            stdoutTruncated: false,
            stderrTruncated: false,
            durationMs: 1,
            cloneMs: 0,
            buildMs: 0,
            runMs: 1,
            outputBytes: 5,
            cpuTimeMs: 0,
            peakMemoryBytes: 0,
            isolation: 'none',
          },
        },
      }),
    );
    await waitFor(async () => (await mesh.client.status(jobId)).state === JobState.JOB_STATE_SUCCEEDED, 5_000, 'SUCCEEDED');
    stream.end();
    await status;
    return jobId;
  }

  async function assertHealthy(client: Client): Promise<void> {
    const outcome = await unaryCall(client, '/grpc.health.v1.Health/Check', Buffer.alloc(0), new Metadata());
    assert.equal(outcome.code, GrpcStatus.OK, `health check failed: ${outcome.details}`);
    // HealthCheckResponse{status: SERVING} is field 1, varint 1.
    assert.deepEqual([...outcome.response!], [0x08, 0x01]);
  }

  before(async () => {
    // No real worker until the end, so hand-made worker streams receive the assignments.
    mesh = await Mesh.start({ workers: 0 });
    repositoryUrl = (await mesh.repository({ 'main.sh': 'echo fuzz-ok\n' })).url;
    gateway = new Client(mesh.gateway.address, credentials.createInsecure());
    const tls = readMeshTls(mesh.certificates.env('worker'));
    workerChannel = meshChannelCredentials(tls);
    workerChannelOptions = meshChannelOptions(tls, mesh.scheduler.address);
    scheduler = new Client(mesh.scheduler.address, workerChannel, workerChannelOptions);

    tokens.alice = await mesh.identity.userToken('alice');
    tokens.carol = await mesh.identity.userToken('carol');

    await mesh.client.submit({ repositoryUrl });
    finishedJobId = await completeJobByHand();
    const bob = await mesh.clientFor('bob');
    foreignJobId = (await bob.submit({ repositoryUrl })).job!.id;
    acceptedJobIds.add(foreignJobId);
  });

  after(async () => {
    gateway?.close();
    scheduler?.close();
    await mesh?.stop();
  });

  afterEach(async function () {
    // Every batch must leave both services serving valid calls.
    await assertHealthy(gateway);
    await assertHealthy(scheduler);
    const listed = await mesh.client.list({ pageSize: 5 });
    assert.ok(listed.jobs.length > 0, 'List returned no jobs after the batch');
  });

  it('gateway survives random request bodies', async () => {
    const random = createRandom(0x5eed01);
    const calls: Array<() => Promise<void>> = [];
    for (const method of methodNames) {
      for (let i = 0; i < randomBodiesPerMethod; i++) {
        const body = randomBuffer(random, randomInt(random, 4) === 0 ? randomInt(random, 4096) : randomInt(random, 64));
        for (const [tokenName, token] of [['no token', undefined], ['alice', tokens.alice]] as const) {
          calls.push(() => callGateway(method, body, token, `${tokenName}, ${describeBytes(body)}`));
        }
      }
    }
    await runLimited(calls, concurrency, (call) => call());
    assertNoFindings();
  });

  it('gateway survives mutated valid requests', async () => {
    const random = createRandom(0x5eed02);
    const valid: Record<GatewayMethod, Buffer> = {
      Submit: Buffer.from(
        SubmitRequest.encode({
          spec: {
            repositoryUrl,
            ref: 'main',
            command: ['bash', 'main.sh'],
            args: ['--flag'],
            env: { MODE: 'fuzz' },
            input: Buffer.from('{"n": 1}'),
            timeoutSeconds: 30,
            idempotencyKey: '',
            network: false,
            limits: { memoryBytes: 64 * 1024 * 1024, pids: 16, cpuPercent: 50, fileSizeBytes: 1024, openFiles: 64, diskBytes: 1024 * 1024 },
          },
        }).finish(),
      ),
      Status: Buffer.from(StatusRequest.encode({ jobId: finishedJobId }).finish()),
      Result: Buffer.from(ResultRequest.encode({ jobId: finishedJobId }).finish()),
      List: Buffer.from(ListRequest.encode({ state: JobState.JOB_STATE_SUCCEEDED, pageSize: 10, pageToken: finishedJobId }).finish()),
      Watch: Buffer.from(WatchRequest.encode({ jobId: finishedJobId }).finish()),
      Logs: Buffer.from(LogsRequest.encode({ jobId: finishedJobId, offset: 2, follow: true }).finish()),
      Cancel: Buffer.from(CancelRequest.encode({ jobId: finishedJobId, reason: 'fuzz' }).finish()),
    };
    const calls: Array<() => Promise<void>> = [];
    for (const method of methodNames) {
      for (let i = 0; i < mutationsPerRequest; i++) {
        const body = mutate(random, valid[method]);
        // Mutated Submit requests that still decode queue jobs. The owner's
        // active job limit bounds them, and the last test runs them.
        calls.push(() => callGateway(method, body, tokens.alice, `alice, ${describeBytes(body)}`));
      }
    }
    await runLimited(calls, concurrency, (call) => call());
    assertNoFindings();
  });

  it('gateway rejects odd field values', async () => {
    const spec = (build: (writer: BinaryWriter) => void) => message((writer) => nested(writer, 1, build));
    const withUrl = (writer: BinaryWriter) => stringField(writer, 1, repositoryUrl);
    const cases: Array<[GatewayMethod, string, Buffer]> = [
      ['Submit', 'empty request', Buffer.alloc(0)],
      ['Submit', 'empty spec', spec(() => {})],
      ['Submit', '100 KiB repository URL', spec((w) => stringField(w, 1, `https://example.com/${'a'.repeat(100 * 1024)}`))],
      ['Submit', 'invalid UTF-8 repository URL', spec((w) => stringField(w, 1, Buffer.concat([Buffer.from('https://'), invalidUtf8]))) ],
      ['Submit', 'NUL in repository URL', spec((w) => stringField(w, 1, `${repositoryUrl}\0x`))],
      ['Submit', 'invalid UTF-8 ref', spec((w) => { withUrl(w); stringField(w, 2, invalidUtf8); })],
      ['Submit', '1 MiB ref', spec((w) => { withUrl(w); stringField(w, 2, 'r'.repeat(1024 * 1024)); })],
      ['Submit', 'ref with ..', spec((w) => { withUrl(w); stringField(w, 2, 'a/../b'); })],
      ['Submit', '100 command entries', spec((w) => { withUrl(w); for (let i = 0; i < 100; i++) stringField(w, 3, 'x'); })],
      ['Submit', '5000-byte argument', spec((w) => { withUrl(w); stringField(w, 4, 'y'.repeat(5000)); })],
      ['Submit', 'invalid UTF-8 argument', spec((w) => { withUrl(w); stringField(w, 4, invalidUtf8); })],
      ['Submit', 'env name with =', spec((w) => { withUrl(w); nested(w, 5, (e) => { stringField(e, 1, 'A=B'); stringField(e, 2, 'v'); }); })],
      ['Submit', 'env entry without a key', spec((w) => { withUrl(w); nested(w, 5, (e) => stringField(e, 2, 'v')); })],
      ['Submit', 'invalid UTF-8 env value', spec((w) => { withUrl(w); nested(w, 5, (e) => { stringField(e, 1, 'A'); stringField(e, 2, invalidUtf8); }); })],
      ['Submit', '70 env entries', spec((w) => { withUrl(w); for (let i = 0; i < 70; i++) nested(w, 5, (e) => { stringField(e, 1, `V${i}`); stringField(e, 2, 'v'); }); })],
      ['Submit', '2 MiB input', spec((w) => { withUrl(w); stringField(w, 6, Buffer.alloc(2 * 1024 * 1024, 1)); })],
      ['Submit', 'timeout -1 as a 10-byte varint', spec((w) => { withUrl(w); w.tag(7, WireType.Varint).int32(-1); })],
      ['Submit', 'timeout 2^40', spec((w) => { withUrl(w); w.tag(7, WireType.Varint).uint64(2n ** 40n); })],
      ['Submit', 'memory limit 2^64-1', spec((w) => { withUrl(w); nested(w, 10, (l) => l.tag(1, WireType.Varint).uint64(2n ** 64n - 1n)); })],
      ['Submit', 'memory limit 2^53-1', spec((w) => { withUrl(w); nested(w, 10, (l) => l.tag(1, WireType.Varint).uint64(2n ** 53n - 1n)); })],
      ['Submit', 'disk limit -1', spec((w) => { withUrl(w); nested(w, 10, (l) => l.tag(6, WireType.Varint).int64(-1)); })],
      ['Submit', 'pids limit -1', spec((w) => { withUrl(w); nested(w, 10, (l) => l.tag(2, WireType.Varint).int32(-1)); })],
      ['Submit', 'idempotency key with spaces', spec((w) => { withUrl(w); stringField(w, 8, 'a key'); })],
      ['Submit', '200-character idempotency key', spec((w) => { withUrl(w); stringField(w, 8, 'k'.repeat(200)); })],
      ['Submit', 'network as varint 2^63', spec((w) => { withUrl(w); stringField(w, 1, 'ftp://example.com/r.git'); w.tag(9, WireType.Varint).uint64(2n ** 63n); })],
      ['Submit', 'spec as a varint', message((w) => w.tag(1, WireType.Varint).uint32(5))],
      ['Submit', 'spec of wrong wire type for the URL', spec((w) => w.tag(1, WireType.Varint).uint32(1))],
      ['Submit', 'spec length past the end', Buffer.from([0x0a, 0x7f, 0x0a, 0x01])],
      ['Submit', 'truncated varint', Buffer.from([0x0a, 0x03, 0x38, 0xff, 0xff])],
      ['Submit', 'end group without a start', Buffer.from([0x0c])],
      ['Submit', 'field number 0', Buffer.from([0x00, 0x01])],
      ['Submit', 'deprecated group field', message((w) => { w.tag(20, WireType.StartGroup); w.tag(20, WireType.EndGroup); })],
      ['Submit', 'unknown fields on a bad spec', spec((w) => { w.tag(99, WireType.Varint).uint32(1); stringField(w, 1000, 'x'); w.tag(7, WireType.Bit64).fixed64(1); })],
      ['Status', 'empty job id', Buffer.alloc(0)],
      ['Status', '1 MiB job id', message((w) => stringField(w, 1, 'z'.repeat(1024 * 1024)))],
      ['Status', 'invalid UTF-8 job id', message((w) => stringField(w, 1, invalidUtf8))],
      ['Status', 'well-formed unknown id', message((w) => stringField(w, 1, '0'.repeat(26)))],
      ['Status', 'job of another owner', message((w) => stringField(w, 1, foreignJobId))],
      ['Status', 'uppercase job id', message((w) => stringField(w, 1, finishedJobId.toUpperCase()))],
      ['Status', 'job id with unknown fields', message((w) => { stringField(w, 1, finishedJobId); w.tag(2, WireType.Bit32).fixed32(7); stringField(w, 3, invalidUtf8); })],
      ['Result', 'job of another owner', message((w) => stringField(w, 1, foreignJobId))],
      ['Result', 'job id with a trailing newline', message((w) => stringField(w, 1, `${finishedJobId}\n`))],
      ['Result', 'job id as a varint', message((w) => w.tag(1, WireType.Varint).uint32(26))],
      ['List', 'state -1', message((w) => w.tag(1, WireType.Varint).int32(-1))],
      ['List', 'state 99', message((w) => w.tag(1, WireType.Varint).uint32(99))],
      ['List', 'page size 2^32-1', message((w) => w.tag(2, WireType.Varint).uint32(0xffffffff))],
      ['List', 'page size 501', message((w) => w.tag(2, WireType.Varint).uint32(501))],
      ['List', 'page token of garbage', message((w) => stringField(w, 3, invalidUtf8))],
      ['List', '1 MiB page token', message((w) => stringField(w, 3, 'p'.repeat(1024 * 1024)))],
      ['List', 'page token of another owner', message((w) => stringField(w, 3, foreignJobId))],
      ['Watch', 'job of another owner', message((w) => stringField(w, 1, foreignJobId))],
      ['Watch', 'invalid UTF-8 job id', message((w) => stringField(w, 1, invalidUtf8))],
      ['Logs', 'offset 2^53-1 with follow', message((w) => { stringField(w, 1, finishedJobId); w.tag(2, WireType.Varint).uint64(2n ** 53n - 1n); w.tag(3, WireType.Varint).bool(true); })],
      ['Logs', 'offset 2^63', message((w) => { stringField(w, 1, finishedJobId); w.tag(2, WireType.Varint).uint64(2n ** 63n); })],
      ['Logs', 'offset -1', message((w) => { stringField(w, 1, finishedJobId); w.tag(2, WireType.Varint).int64(-1); })],
      ['Logs', 'follow as varint 7', message((w) => { stringField(w, 1, finishedJobId); w.tag(3, WireType.Varint).uint32(7); })],
      ['Logs', 'job of another owner', message((w) => stringField(w, 1, foreignJobId))],
      ['Cancel', 'finished job', message((w) => stringField(w, 1, finishedJobId))],
      ['Cancel', '300-character reason', message((w) => { stringField(w, 1, finishedJobId); stringField(w, 2, 'r'.repeat(300)); })],
      ['Cancel', 'invalid UTF-8 reason', message((w) => { stringField(w, 1, finishedJobId); stringField(w, 2, invalidUtf8); })],
      ['Cancel', 'job of another owner', message((w) => stringField(w, 1, foreignJobId))],
    ];
    const tokenVariants: Array<[string, string | undefined]> = [
      ['alice', tokens.alice],
      ['no token', undefined],
      ['carol without a role', tokens.carol],
      ['garbage token', 'not.a.jwt'],
      ['long garbage token', 'A'.repeat(16 * 1024)],
      ['alice token with a flipped byte', `${tokens.alice!.slice(0, -3)}${tokens.alice!.at(-3) === 'A' ? 'B' : 'A'}${tokens.alice!.slice(-2)}`],
    ];
    const calls: Array<() => Promise<void>> = [];
    for (const [method, name, body] of cases) {
      for (const [tokenName, token] of tokenVariants) {
        calls.push(() => callGateway(method, body, token, `${tokenName}, ${name}`));
      }
    }
    await runLimited(calls, concurrency, (call) => call());
    assertNoFindings();
  });

  it('gateway checks the token before the body', async () => {
    const garbled = Buffer.from([0x0a, 0x7f, 0x0a, 0x01]);
    for (const method of methodNames) {
      const { path, stream } = gatewayMethods[method];
      const call = (token: string | undefined) =>
        stream ? serverStreamCall(gateway, path, garbled, bearer(token)) : unaryCall(gateway, path, garbled, bearer(token));
      assert.equal((await call(undefined)).code, GrpcStatus.UNAUTHENTICATED, `${method} without a token`);
      assert.equal((await call('not.a.jwt')).code, GrpcStatus.UNAUTHENTICATED, `${method} with a garbage token`);
      const decodedLater = await call(tokens.alice);
      assert.equal(decodedLater.code, GrpcStatus.INVALID_ARGUMENT, `${method} with a valid token: ${decodedLater.details}`);
    }
  });

  it('gateway rejects a body over the message limit', async () => {
    const body = message((w) => stringField(w, 1, 'x'.repeat(maxMessageBytes + 1024)));
    for (const method of methodNames) {
      const { path, stream } = gatewayMethods[method];
      const outcome = stream
        ? await serverStreamCall(gateway, path, body, bearer(tokens.alice))
        : await unaryCall(gateway, path, body, bearer(tokens.alice));
      assert.equal(outcome.code, GrpcStatus.RESOURCE_EXHAUSTED, `${method}: ${GrpcStatus[outcome.code]} ${outcome.details}`);
    }
  });

  it('worker stream survives random messages', async () => {
    const random = createRandom(0x5eed03);
    const sessions: Array<() => Promise<void>> = [];
    for (let i = 0; i < randomWorkerStreams; i++) {
      const first = randomBuffer(random, 1 + randomInt(random, 200));
      sessions.push(() => workerSession(`random first message, ${describeBytes(first)}`, [first]));
      const later = randomBuffer(random, 1 + randomInt(random, 200));
      sessions.push(() => workerSession(`random message after hello, ${describeBytes(later)}`, [hello(), later]));
      const mutated = mutate(random, hello());
      sessions.push(() => workerSession(`mutated hello, ${describeBytes(mutated)}`, [mutated]));
    }
    await runLimited(sessions, concurrency, (session) => session());
    assertNoFindings();
  });

  it('worker stream rejects odd hello values', async () => {
    const rawHello = (build: (writer: BinaryWriter) => void) => message((w) => nested(w, 1, build));
    const cases: Array<[string, Buffer]> = [
      ['empty hello', rawHello(() => {})],
      ['empty worker id', connectRequest({ hello: { workerId: '', protocolVersion: 1, slots: 1, hostname: '', running: [] } })],
      ['200-character worker id', connectRequest({ hello: { workerId: 'w'.repeat(200), protocolVersion: 1, slots: 1, hostname: '', running: [] } })],
      ['worker id with a slash', connectRequest({ hello: { workerId: '../w', protocolVersion: 1, slots: 1, hostname: '', running: [] } })],
      ['invalid UTF-8 worker id', rawHello((w) => { stringField(w, 1, invalidUtf8); w.tag(2, WireType.Varint).uint32(1); w.tag(3, WireType.Varint).uint32(1); })],
      ['protocol version 0', connectRequest({ hello: { workerId: 'fuzz-v0', protocolVersion: 0, slots: 1, hostname: '' } })],
      ['protocol version 2^32-1', connectRequest({ hello: { workerId: 'fuzz-vmax', protocolVersion: 0xffffffff, slots: 1, hostname: '' } })],
      ['slots 0', connectRequest({ hello: { workerId: 'fuzz-s0', protocolVersion: 1, slots: 0, hostname: '', running: [] } })],
      ['slots 65', connectRequest({ hello: { workerId: 'fuzz-s65', protocolVersion: 1, slots: 65, hostname: '', running: [] } })],
      ['slots -1', rawHello((w) => { stringField(w, 1, 'fuzz-sneg'); w.tag(2, WireType.Varint).uint32(1); w.tag(3, WireType.Varint).int32(-1); })],
      ['1 MiB hostname', connectRequest({ hello: { workerId: 'fuzz-host', protocolVersion: 1, slots: 1, hostname: 'h'.repeat(1024 * 1024) } })],
      ['invalid UTF-8 hostname', rawHello((w) => { stringField(w, 1, 'fuzz-utf8'); w.tag(2, WireType.Varint).uint32(1); w.tag(3, WireType.Varint).uint32(1); stringField(w, 4, invalidUtf8); })],
      ['hello and heartbeat in one message', message((w) => { nested(w, 1, (h) => { stringField(h, 1, 'fuzz-two'); h.tag(2, WireType.Varint).uint32(1); h.tag(3, WireType.Varint).uint32(1); }); nested(w, 5, () => {}); })],
    ];
    await runLimited(cases, concurrency, ([name, first]) => workerSession(name, [first]));

    // The same id twice at once: the second stream gets ALREADY_EXISTS while the first is not silent.
    const first = openWorkerStream();
    first.stream.write(hello('fuzz-duplicate'));
    await waitFor(() => first.responses.length > 0, 5_000, 'scheduler hello');
    await workerSession('duplicate worker id', [hello('fuzz-duplicate')]);
    first.stream.end();
    check('scheduler WorkerService.Connect', 'first of two workers with one id', await first.status);
    assertNoFindings();
  });

  it('worker stream rejects reports before hello', async () => {
    const reports: Array<[string, WorkerReport]> = [
      ['update', { update: { jobId: finishedJobId, attempt: 1, phase: JobPhase.JOB_PHASE_RUNNING, commitSha: '' } }],
      ['log', { log: { jobId: finishedJobId, attempt: 1, stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.from('x') } }],
      ['outcome', { outcome: { jobId: finishedJobId, attempt: 1, state: JobState.JOB_STATE_FAILED, commitSha: '' } }],
      ['heartbeat', { heartbeat: { runningJobIds: [finishedJobId], draining: false } }],
      ['rejection', { rejection: { jobId: finishedJobId, attempt: 1, reason: 'fuzz' } }],
      ['empty message', {}],
    ];
    await runLimited(reports, concurrency, ([name, report]) =>
      workerSession(`${name} before hello`, [connectRequest(report), hello(), connectRequest(report)]),
    );
    assertNoFindings();
  });

  it('worker stream ignores reports about unknown jobs', async () => {
    const unknownId = '0'.repeat(26);
    const hugeLog = Buffer.alloc(maxMessageBytes - 64 * 1024, 0x41);
    const reports: Buffer[] = [
      hello('fuzz-unknown-jobs', 2),
      connectRequest({ update: { jobId: unknownId, attempt: 1, phase: JobPhase.JOB_PHASE_CLONING, commitSha: 'f'.repeat(40) } }),
      connectRequest({ update: { jobId: finishedJobId, attempt: 0, phase: 99 as JobPhase, commitSha: '' } }),
      connectRequest({ log: { jobId: unknownId, attempt: 1, stream: LogStream.LOG_STREAM_STDERR, data: hugeLog } }),
      connectRequest({ log: { jobId: finishedJobId, attempt: 1, stream: 42 as LogStream, data: invalidUtf8 } }),
      connectRequest({ outcome: { jobId: unknownId, attempt: 0xffffffff, state: 99 as JobState, commitSha: '' } }),
      connectRequest({ outcome: { jobId: finishedJobId, attempt: 1, state: JobState.JOB_STATE_FAILED, commitSha: 'x' } }),
      connectRequest({ rejection: { jobId: 'not an id', attempt: 1, reason: 'r'.repeat(64 * 1024) } }),
      connectRequest({ heartbeat: { runningJobIds: Array.from({ length: 10_000 }, (_, i) => `job-${i}`), draining: false } }),
      message((w) => nested(w, 2, (u) => { stringField(u, 1, invalidUtf8); u.tag(2, WireType.Varint).int32(-1); })),
      // A result whose uint64 field does not fit a JavaScript number.
      message((w) => nested(w, 4, (o) => { stringField(o, 1, unknownId); o.tag(3, WireType.Varint).uint32(3); nested(o, 5, (r) => r.tag(7, WireType.Varint).uint64(2n ** 64n - 1n)); })),
      connectRequest({ heartbeat: { runningJobIds: [], draining: true } }),
    ];
    await workerSession('reports about unknown jobs', reports);
    const status = await mesh.client.status(finishedJobId);
    assert.equal(status.state, JobState.JOB_STATE_SUCCEEDED, 'a stray report changed a finished job');
    assertNoFindings();
  });

  it('worker stream tolerates odd reports on a held job', async () => {
    const { job } = await mesh.client.submit({ repositoryUrl });
    acceptedJobIds.add(job!.id);
    // Earlier batches may have queued jobs of their own, so the hand-made
    // worker takes whichever job comes first and reads it as the admin.
    const admin = await mesh.clientFor('admin');
    const adminToken = await mesh.identity.userToken('admin');
    const hugeLog = Buffer.alloc(maxMessageBytes - 64 * 1024, 0x42);
    let heldJobId = '';
    await workerSession('odd reports on a held job', [hello('fuzz-holder')], async (responses, write) => {
      // Heartbeats keep the scheduler from dropping this worker while the test reads the job.
      const heartbeat = setInterval(() => write(connectRequest({ heartbeat: { runningJobIds: [heldJobId] } })), 200);
      try {
        await waitFor(() => responses.some((response) => response.assignment), 5_000, 'an assignment');
        const { jobId, attempt } = responses.find((response) => response.assignment)!.assignment!;
        heldJobId = jobId;
        const reports: WorkerReport[] = [
          { update: { jobId, attempt, phase: JobPhase.JOB_PHASE_CLONING, commitSha: '' } },
          { update: { jobId, attempt, phase: 99 as JobPhase, commitSha: 'not a sha' } },
          { log: { jobId, attempt, stream: LogStream.LOG_STREAM_STDOUT, data: hugeLog } },
          { log: { jobId, attempt, stream: 7 as LogStream, data: invalidUtf8 } },
          { outcome: { jobId, attempt, state: JobState.JOB_STATE_RUNNING, commitSha: '' } },
          { outcome: { jobId, attempt: attempt + 1, state: JobState.JOB_STATE_SUCCEEDED, commitSha: '' } },
          { rejection: { jobId, attempt, reason: 'too late, the job was accepted' } },
        ];
        for (const report of reports) write(connectRequest(report));
        await waitFor(async () => (await admin.status(jobId)).phase === (99 as JobPhase), 5_000, 'phase 99');

        // Status and Logs must still succeed for a job with an unknown phase and odd output.
        const statusRequest = Buffer.from(StatusRequest.encode({ jobId }).finish());
        check('gateway Status', 'job in phase 99', await unaryCall(gateway, gatewayMethods.Status.path, statusRequest, bearer(adminToken)));
        const logsRequest = Buffer.from(LogsRequest.encode({ jobId, offset: 0, follow: false }).finish());
        check('gateway Logs', 'job with 8 MiB of output', await serverStreamCall(gateway, gatewayMethods.Logs.path, logsRequest, bearer(adminToken)));
        const state = (await admin.status(jobId)).state;
        assert.equal(state, JobState.JOB_STATE_RUNNING, 'a non-final or mismatched outcome ended the job');
      } finally {
        clearInterval(heartbeat);
      }
    });
    // Once the adoption grace after the stream's end has passed, the job is back in the queue, and a real worker runs it in the last test.
    const graceMs = mesh.scheduler.context.config.adoptionGraceMs;
    await waitFor(async () => (await admin.status(heldJobId)).state === JobState.JOB_STATE_QUEUED, graceMs + 5_000, 'QUEUED again');
    assertNoFindings();
  });

  it('still runs a job after the fuzzing', async () => {
    await mesh.addWorker();
    const { job } = await mesh.client.submit({ repositoryUrl });
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
    const { result } = await mesh.client.result(job!.id);
    assert.equal(result!.stdout.toString(), 'fuzz-ok\n');

    // Every job the fuzzing queued reaches a final state too.
    const admin = await mesh.clientFor('admin');
    for (const jobId of acceptedJobIds) {
      await waitFor(async () => isFinal((await admin.status(jobId)).state), 30_000, `job ${jobId} to finish`);
    }
  });
});
