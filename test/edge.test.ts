import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getChannelzHandlers, status as GrpcStatus } from '@grpc/grpc-js';
import { JobSpec, JobState } from '../gen/faas/v1/job.js';
import {
  LogsRequest,
  LogsResponse,
  StatusRequest,
  StatusResponse,
  SubmitRequest,
  SubmitResponse,
  WatchRequest,
  WatchResponse,
} from '../gen/faas/v1/job_service.js';
import { HealthCheckRequest, HealthCheckResponse, HealthCheckResponse_ServingStatus } from '../gen/grpc/health/v1/health.js';
import { findFreePort } from '../dev/nats-server.js';
import { readMeshTls } from '../common/tls.js';
import { readGatewayConfig } from '../services/gateway/config.js';
import { startGateway, type RunningGateway } from '../services/gateway/gateway.js';
import { readEdgeConfig, type EdgeConfig } from '../services/edge/config.js';
import { startEdge, type RunningEdge } from '../services/edge/edge.js';
import { FaasClientError } from '../client/errors.js';
import { Mesh, finalRecord, rejection, waitFor } from './harness.js';
import { call, frame, FrameReader, readReply, send, type Frame, type Mode } from './grpc-web-client.js';

const allowedOrigin = 'https://page.example.com';
const maxRequestBytes = 64 * 1024;
const secretText = 'outside the web root';
/** A job that runs until the test cancels it. */
const longJob = ['sleep', '600'];
/** Generous bound for the first frames of a stream, far above their usual arrival of well under a second. */
const firstFrameLimitMs = 45_000;

const paths = {
  submit: '/faas.v1.JobService/Submit',
  status: '/faas.v1.JobService/Status',
  watch: '/faas.v1.JobService/Watch',
  logs: '/faas.v1.JobService/Logs',
  health: '/grpc.health.v1.Health/Check',
};

interface ServerCallCounts {
  calls_started: number;
  calls_succeeded: number;
  calls_failed: number;
}

type ChannelzHandler = (call: { request: object }, callback: (error: unknown, response: unknown) => void) => void;

/**
 * Returns how many calls the in-process gRPC server listening on `address`
 * has open, from grpc-js's channelz counters. A call that the client cancels
 * counts as failed once the server receives the cancellation.
 */
async function openServerCalls(address: string): Promise<number> {
  const getServers = (getChannelzHandlers() as unknown as Record<string, ChannelzHandler>).GetServers!;
  const response = await new Promise<{ server: Array<{ data: ServerCallCounts; listen_socket: Array<{ name: string }> }> }>(
    (resolve, reject) =>
      getServers({ request: { start_server_id: 0, max_results: 1000 } }, (error, reply) => (error ? reject(error) : resolve(reply as never))),
  );
  const server = response.server.find((candidate) => candidate.listen_socket.some((socket) => socket.name === address));
  assert.ok(server, `no channelz entry for a server on ${address}`);
  return Number(server.data.calls_started) - Number(server.data.calls_succeeded) - Number(server.data.calls_failed);
}

/** Sends a raw HTTP/1.1 GET, so the path reaches the server exactly as written (fetch would normalise `..`). */
function rawGet(address: string, path: string): Promise<{ status: number; body: string }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('grpc-web edge', function () {
  this.timeout(90_000);
  let mesh: Mesh;
  let edge: RunningEdge;
  let webRoot: string;
  let scratch: string;
  let token: string;
  let edgeConfig: EdgeConfig;

  before(async () => {
    mesh = await Mesh.start({ workers: 1, slots: 4 });
    scratch = await mkdtemp(join(tmpdir(), 'faas-edge-test-'));
    webRoot = join(scratch, 'dist');
    await mkdir(join(webRoot, 'assets'), { recursive: true });
    await writeFile(join(webRoot, 'index.html'), '<!doctype html><title>faas</title><div id="root"></div>');
    await writeFile(join(webRoot, 'assets', 'index-4f2a9c.js'), 'console.log("faas");');
    await writeFile(join(webRoot, 'style.css'), 'body { margin: 0 }');
    await writeFile(join(webRoot, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(join(webRoot, '.env'), secretText);
    await writeFile(join(scratch, 'secret.txt'), secretText);
    await symlink(join(scratch, 'secret.txt'), join(webRoot, 'link.txt'));

    edgeConfig = {
      ...readEdgeConfig({
        FAAS_OIDC_ISSUER: mesh.identity.issuer,
        FAAS_GATEWAY: mesh.gateway.address,
        FAAS_EDGE_ADDRESS: '127.0.0.1:0',
        FAAS_WEB_ROOT: webRoot,
        FAAS_CORS_ORIGINS: allowedOrigin,
      }),
      maxRequestBytes,
    };
    edge = await startEdge(edgeConfig, mesh.log.child({ service: 'edge' }));
    token = await mesh.identity.userToken('alice');
  });

  after(async () => {
    await edge?.close();
    await mesh?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** Submits a job through the edge and returns its id. */
  async function submitThroughEdge(command: string[], mode: Mode = 'binary'): Promise<string> {
    const repo = await mesh.repository({ 'README.md': 'edge test\n' });
    const request = SubmitRequest.encode({ spec: JobSpec.fromPartial({ repositoryUrl: repo.url, command, timeoutSeconds: 120 }) }).finish();
    const reply = await call(edge.url, paths.submit, request, { mode, token });
    assert.equal(reply.code, GrpcStatus.OK, reply.message);
    assert.equal(reply.messages.length, 1);
    const { job } = SubmitResponse.decode(reply.messages[0]!);
    assert.ok(job?.id, 'Submit returned no job id');
    return job.id;
  }

  /**
   * Reads data frames until one satisfies `wanted`. Fails if the stream ends
   * first, or if the frame has not arrived after `firstFrameLimitMs` while the
   * job still runs, because then the edge is buffering frames.
   */
  async function readUntil(reader: FrameReader, wanted: (frame: Frame) => boolean, what: string): Promise<Frame[]> {
    const seen: Frame[] = [];
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} did not arrive within ${firstFrameLimitMs} ms while the job runs: the edge is buffering frames`)),
        firstFrameLimitMs,
      );
    });
    try {
      for (;;) {
        const next = await Promise.race([reader.next(), stalled]);
        assert.ok(next, `the stream ended before ${what}`);
        assert.equal(next.flag, 0, `a trailer frame arrived before ${what}: ${next.payload.toString('latin1')}`);
        seen.push(next);
        if (wanted(next)) return seen;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Cancels a job that a test left running. A job that already ended is fine. */
  async function cancelIfRunning(jobId: string): Promise<void> {
    await mesh.client.cancel(jobId).catch((error: unknown) => {
      if (!(error instanceof FaasClientError) || error.code !== GrpcStatus.FAILED_PRECONDITION) throw error;
    });
  }

  const isRunning = (next: Frame) => WatchResponse.decode(next.payload).job?.state === JobState.JOB_STATE_RUNNING;

  describe('unary calls', () => {
    for (const mode of ['binary', 'text'] as const) {
      it(`Submit then Status in ${mode} mode`, async () => {
        const jobId = await submitThroughEdge(['true'], mode);
        const response = await send(edge.url, paths.status, StatusRequest.encode({ jobId }).finish(), { mode, token });
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), mode === 'text' ? 'application/grpc-web-text+proto' : 'application/grpc-web+proto');
        if (mode === 'text') {
          const body = await response.clone().text();
          assert.match(body, /^[A-Za-z0-9+/=]+$/, 'the text-mode body is not base64');
        }
        const reply = await readReply(response, mode);
        assert.equal(reply.code, GrpcStatus.OK, reply.message);
        assert.equal(reply.trailersOnly, false);
        assert.equal(reply.messages.length, 1);
        assert.equal(StatusResponse.decode(reply.messages[0]!).job?.id, jobId);
      });
    }

    it('health check needs no token', async () => {
      const reply = await call(edge.url, paths.health, HealthCheckRequest.encode({ service: 'faas.v1.JobService' }).finish());
      assert.equal(reply.code, GrpcStatus.OK, reply.message);
      assert.equal(HealthCheckResponse.decode(reply.messages[0]!).status, HealthCheckResponse_ServingStatus.SERVING);
    });

    it('missing token gets UNAUTHENTICATED trailers-only', async () => {
      const reply = await call(edge.url, paths.status, StatusRequest.encode({ jobId: '0000000000aaaaaaaaaaaaaaaa' }).finish());
      assert.equal(reply.code, GrpcStatus.UNAUTHENTICATED);
      assert.equal(reply.trailersOnly, true);
      assert.equal(reply.messages.length, 0);
      assert.ok(reply.message.length > 0, 'UNAUTHENTICATED came without a message');
    });

    it('bad input keeps the gateway message', async () => {
      const spec = JobSpec.fromPartial({ repositoryUrl: 'ftp://git.example.com/repo.git' });
      const direct = await rejection(mesh.client.submit({ repositoryUrl: 'ftp://git.example.com/repo.git' }));
      for (const mode of ['binary', 'text'] as const) {
        const reply = await call(edge.url, paths.submit, SubmitRequest.encode({ spec }).finish(), { mode, token });
        assert.equal(reply.code, GrpcStatus.INVALID_ARGUMENT);
        assert.equal(reply.message, direct.message, `${mode} mode changed the message`);
        assert.match(reply.message, /repository_url/);
      }
    });

    it('grpc-timeout becomes the deadline', async () => {
      const jobId = await submitThroughEdge(longJob);
      try {
        const reply = await call(edge.url, paths.watch, WatchRequest.encode({ jobId }).finish(), { token, headers: { 'grpc-timeout': '1500m' } });
        assert.equal(reply.code, GrpcStatus.DEADLINE_EXCEEDED, reply.message);
        assert.ok(reply.messages.length >= 1, 'Watch sent no record before its deadline');
      } finally {
        await cancelIfRunning(jobId);
      }
    });
  });

  describe('server streaming', () => {
    it('Watch arrives frame by frame until the trailer', async () => {
      const jobId = await submitThroughEdge(longJob);
      try {
        const response = await send(edge.url, paths.watch, WatchRequest.encode({ jobId }).finish(), { token });
        const reader = new FrameReader(response, 'binary');
        // The job sleeps until cancelled, so this record can only have come through while the stream is open.
        await readUntil(reader, isRunning, 'the RUNNING record');
        await mesh.client.cancel(jobId);
        const rest = await readReply(response, 'binary', reader);
        assert.equal(rest.code, GrpcStatus.OK, rest.message);
        const last = WatchResponse.decode(rest.messages.at(-1)!);
        assert.equal(last.job?.state, JobState.JOB_STATE_CANCELLED);
      } finally {
        await cancelIfRunning(jobId);
      }
    });

    it('Logs arrive frame by frame in text mode', async () => {
      const jobId = await submitThroughEdge(['sh', '-c', 'echo first line; sleep 600; echo never']);
      try {
        const request = LogsRequest.encode({ jobId, offset: 0, follow: true }).finish();
        const response = await send(edge.url, paths.logs, request, { token, mode: 'text' });
        const reader = new FrameReader(response, 'text');
        const hasFirstLine = (next: Frame) => LogsResponse.decode(next.payload).data.toString().includes('first line');
        await readUntil(reader, hasFirstLine, 'the first line');
        await mesh.client.cancel(jobId);
        const rest = await readReply(response, 'text', reader);
        assert.equal(rest.code, GrpcStatus.OK, rest.message);
        const output = rest.messages.map((message) => LogsResponse.decode(message).data.toString()).join('');
        assert.ok(!output.includes('never'), `the job ran past its cancel: ${output}`);
      } finally {
        await cancelIfRunning(jobId);
      }
    });

    it('large output survives a slow reader', async () => {
      // Far more than the socket buffers hold, so the edge must pause the
      // gateway stream while the reader lags, and resume it on 'drain'.
      const outputBytes = 8 * 1024 * 1024;
      const jobId = await submitThroughEdge(['sh', '-c', `head -c ${outputBytes} /dev/zero | tr '\\0' a`]);
      const done = await finalRecord(mesh, jobId);
      assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
      const response = await send(edge.url, paths.logs, LogsRequest.encode({ jobId, offset: 0, follow: false }).finish(), { token });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const reply = await readReply(response, 'binary');
      assert.equal(reply.code, GrpcStatus.OK, reply.message);
      const chunks = reply.messages.map((message) => LogsResponse.decode(message));
      const received = chunks.reduce((total, chunk) => total + chunk.data.length, 0);
      assert.equal(received, outputBytes);
      assert.ok(chunks.every((chunk) => !chunk.data.includes(0)), 'the output contains bytes other than "a"');
      for (let i = 1; i < chunks.length; i++) {
        assert.equal(chunks[i]!.offset, chunks[i - 1]!.offset + chunks[i - 1]!.data.length, `chunk ${i} does not follow chunk ${i - 1}`);
      }
    });

    it('client abort cancels the gateway stream', async () => {
      const jobId = await submitThroughEdge(longJob);
      try {
        const aborter = new AbortController();
        const response = await send(edge.url, paths.watch, WatchRequest.encode({ jobId }).finish(), { token, signal: aborter.signal });
        await readUntil(new FrameReader(response, 'binary'), isRunning, 'the RUNNING record');
        const open = await openServerCalls(mesh.gateway.address);
        assert.ok(open >= 1, `the gateway has ${open} open calls while a Watch streams`);
        aborter.abort();
        await waitFor(async () => (await openServerCalls(mesh.gateway.address)) === open - 1, 10_000, 'the gateway to see the cancel');
      } finally {
        await cancelIfRunning(jobId);
      }
    });
  });

  describe('rejected requests', () => {
    it('unknown and streaming-request methods get UNIMPLEMENTED', async () => {
      for (const path of [
        '/faas.v1.JobService/Delete',
        '/faas.worker.v1.WorkerService/Connect',
        '/faas.scheduler.v1.PoolService/GetPool',
        '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        '/grpc.health.v1.Health/Watch',
        '/not-a-method',
      ]) {
        const reply = await call(edge.url, path, Buffer.alloc(0), { token });
        assert.equal(reply.code, GrpcStatus.UNIMPLEMENTED, `${path}: ${reply.message}`);
        assert.ok(reply.trailersOnly, `${path} got no trailers-only response`);
        assert.match(reply.message, /is not available over grpc-web/);
      }
    });

    it('oversized body gets RESOURCE_EXHAUSTED', async () => {
      const input = Buffer.alloc(maxRequestBytes + 1, 'x');
      const request = SubmitRequest.encode({ spec: JobSpec.fromPartial({ repositoryUrl: 'https://git.example.com/r.git', input }) }).finish();
      const declared = await call(edge.url, paths.submit, request, { token });
      assert.equal(declared.code, GrpcStatus.RESOURCE_EXHAUSTED);
      assert.match(declared.message, new RegExp(`limit of ${maxRequestBytes} bytes`));

      // A streamed body has no content-length, so the edge must count as it reads.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          const framed = frame(0, request);
          for (let offset = 0; offset < framed.length; offset += 16 * 1024) controller.enqueue(framed.subarray(offset, offset + 16 * 1024));
          controller.close();
        },
      });
      const response = await fetch(`${edge.url}${paths.submit}`, {
        method: 'POST',
        headers: { 'content-type': 'application/grpc-web+proto', authorization: `Bearer ${token}` },
        body,
        duplex: 'half',
      } as RequestInit);
      const streamed = await readReply(response, 'binary');
      assert.equal(streamed.code, GrpcStatus.RESOURCE_EXHAUSTED);
    });

    it('malformed frames get INVALID_ARGUMENT', async () => {
      const valid = frame(0, StatusRequest.encode({ jobId: '0000000000aaaaaaaaaaaaaaaa' }).finish());
      const cases: Array<[string, Mode, Buffer | string, RegExp]> = [
        ['truncated frame', 'binary', valid.subarray(0, valid.length - 2), /ends inside a frame/],
        ['truncated header', 'binary', valid.subarray(0, 3), /ends inside a frame header/],
        ['two messages', 'binary', Buffer.concat([valid, valid]), /contains 2 messages/],
        ['no message', 'binary', Buffer.alloc(0), /contains 0 messages/],
        ['trailer frame', 'binary', frame(0x80, Buffer.from('grpc-status: 0\r\n')), /trailer frame/],
        ['bad base64', 'text', '!!!!', /not base64/],
      ];
      for (const [name, mode, rawBody, pattern] of cases) {
        const reply = await call(edge.url, paths.status, Buffer.alloc(0), { mode, token, rawBody });
        assert.equal(reply.code, GrpcStatus.INVALID_ARGUMENT, `${name}: ${reply.message}`);
        assert.match(reply.message, pattern, name);
      }
    });

    it('text body in several base64 chunks is accepted', async () => {
      const jobId = await submitThroughEdge(['true']);
      const framed = frame(0, StatusRequest.encode({ jobId }).finish());
      const rawBody = [framed.subarray(0, 4), framed.subarray(4, 9), framed.subarray(9)].map((part) => part.toString('base64')).join('');
      const reply = await call(edge.url, paths.status, Buffer.alloc(0), { mode: 'text', token, rawBody });
      assert.equal(reply.code, GrpcStatus.OK, reply.message);
      assert.equal(StatusResponse.decode(reply.messages[0]!).job?.id, jobId);
    });

    it('other content types and methods are refused', async () => {
      const json = await fetch(`${edge.url}${paths.status}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(json.status, 415);
      const put = await fetch(`${edge.url}/`, { method: 'PUT', body: 'x' });
      assert.equal(put.status, 405);
      assert.equal(put.headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
      const jsonFormat = await call(edge.url, paths.status, Buffer.alloc(0), { headers: { 'content-type': 'application/grpc-web+json' } });
      assert.equal(jsonFormat.code, GrpcStatus.UNIMPLEMENTED);
    });
  });

  describe('CORS', () => {
    it('preflight from an allowed origin', async () => {
      const response = await fetch(`${edge.url}${paths.submit}`, {
        method: 'OPTIONS',
        headers: {
          origin: allowedOrigin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout',
        },
      });
      assert.equal(response.status, 204);
      assert.equal(response.headers.get('access-control-allow-origin'), allowedOrigin);
      assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/);
      const allowed = (response.headers.get('access-control-allow-headers') ?? '').split(',').map((name) => name.trim());
      for (const header of ['content-type', 'x-grpc-web', 'x-user-agent', 'grpc-timeout', 'authorization']) {
        assert.ok(allowed.includes(header), `preflight does not allow ${header}`);
      }
    });

    it('allowed origin sees the status headers', async () => {
      const reply = await call(edge.url, paths.status, StatusRequest.encode({ jobId: '0000000000aaaaaaaaaaaaaaaa' }).finish(), {
        headers: { origin: allowedOrigin },
      });
      assert.equal(reply.code, GrpcStatus.UNAUTHENTICATED);
      assert.equal(reply.response.headers.get('access-control-allow-origin'), allowedOrigin);
      const exposed = (reply.response.headers.get('access-control-expose-headers') ?? '').split(',').map((name) => name.trim());
      for (const header of ['grpc-status', 'grpc-message', 'grpc-status-details-bin']) {
        assert.ok(exposed.includes(header), `${header} is not exposed`);
      }
    });

    it('other origins get no CORS headers', async () => {
      const preflight = await fetch(`${edge.url}${paths.submit}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 403);
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);

      const reply = await call(edge.url, paths.status, StatusRequest.encode({ jobId: '0000000000aaaaaaaaaaaaaaaa' }).finish(), {
        token,
        headers: { origin: 'https://evil.example.net' },
      });
      assert.equal(reply.code, GrpcStatus.PERMISSION_DENIED);
      assert.equal(reply.response.headers.get('access-control-allow-origin'), null);
    });

    it('same-origin calls need no listing', async () => {
      const jobId = await submitThroughEdge(['true']);
      const reply = await call(edge.url, paths.status, StatusRequest.encode({ jobId }).finish(), { token, headers: { origin: edge.url } });
      assert.equal(reply.code, GrpcStatus.OK, reply.message);
    });
  });

  describe('page', () => {
    it('serves files with their types and cache headers', async () => {
      const cases: Array<[string, string, string, string]> = [
        ['/', 'text/html; charset=utf-8', 'no-cache', 'id="root"'],
        ['/assets/index-4f2a9c.js', 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable', 'console.log'],
        ['/style.css', 'text/css; charset=utf-8', 'no-cache', 'margin'],
        ['/logo.svg', 'image/svg+xml', 'no-cache', '<svg'],
      ];
      for (const [path, type, cache, content] of cases) {
        const response = await fetch(`${edge.url}${path}`);
        assert.equal(response.status, 200, path);
        assert.equal(response.headers.get('content-type'), type, path);
        assert.equal(response.headers.get('cache-control'), cache, path);
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
        assert.ok((await response.text()).includes(content), `${path} has other content`);
      }
    });

    it('unknown routes get index.html', async () => {
      const route = await fetch(`${edge.url}/jobs/0000000000aaaaaaaaaaaaaaaa?tab=logs`);
      assert.equal(route.status, 200);
      assert.match(await route.text(), /id="root"/);
      const missingFile = await fetch(`${edge.url}/assets/missing-123.js`);
      assert.equal(missingFile.status, 404);
    });

    it('serves HEAD and conditional GET', async () => {
      const head = await fetch(`${edge.url}/style.css`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String('body { margin: 0 }'.length));
      const etag = head.headers.get('etag');
      assert.ok(etag, 'no ETag');
      const again = await fetch(`${edge.url}/style.css`, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
    });

    it('refuses path traversal', async () => {
      for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/%00', '/link.txt', '/.env', '/%2eenv']) {
        const { status, body } = await rawGet(edge.address, path);
        assert.ok(!body.includes(secretText), `${path} served a file outside the web root (status ${status})`);
        assert.ok([400, 404].includes(status) || body.includes('id="root"'), `${path} returned ${status}: ${body.slice(0, 80)}`);
      }
    });

    it('/config.json has the page settings', async () => {
      const response = await fetch(`${edge.url}/config.json`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.deepEqual(await response.json(), {
        issuer: mesh.identity.issuer,
        clientId: 'faas-web',
        grpcWebUrl: edge.url,
        scopes: 'openid profile email',
      });
    });

    it('/healthz reports the gateway', async () => {
      const response = await fetch(`${edge.url}/healthz`);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /SERVING/);
    });
  });

  describe('other set-ups', () => {
    it('missing gateway and page return 503', async () => {
      const lonely = await startEdge(
        {
          ...edgeConfig,
          gatewayAddress: `127.0.0.1:${await findFreePort()}`,
          webRoot: join(scratch, 'not-built'),
        },
        mesh.log.child({ service: 'edge' }),
      );
      try {
        const health = await fetch(`${lonely.url}/healthz`);
        assert.equal(health.status, 503);
        assert.ok(!(await health.text()).includes('127.0.0.1'), '/healthz shows the gateway address');
        const page = await fetch(`${lonely.url}/`);
        assert.equal(page.status, 503);
        assert.equal(page.headers.get('content-type'), 'text/plain; charset=utf-8');
        assert.match(await page.text(), /npm run build:web/);
        const reply = await call(lonely.url, paths.status, StatusRequest.encode({ jobId: '0000000000aaaaaaaaaaaaaaaa' }).finish(), { token });
        assert.equal(reply.code, GrpcStatus.UNAVAILABLE);
        assert.ok(!reply.message.includes('127.0.0.1'), `the message shows an internal address: ${reply.message}`);
      } finally {
        await lonely.close();
      }
    });

    it('grpc-web off serves only the page', async () => {
      const pageOnly = await startEdge({ ...edgeConfig, grpcWeb: false }, mesh.log.child({ service: 'edge' }));
      try {
        const reply = await call(pageOnly.url, paths.health, HealthCheckRequest.encode({ service: '' }).finish());
        assert.equal(reply.code, GrpcStatus.UNIMPLEMENTED);
        assert.match(reply.message, /FAAS_GRPC_WEB=off/);
        assert.equal((await fetch(`${pageOnly.url}/`)).status, 200);
      } finally {
        await pageOnly.close();
      }
    });

    it('forwards over TLS to a TLS gateway', async () => {
      let tlsGateway: RunningGateway | undefined;
      let tlsEdge: RunningEdge | undefined;
      try {
        tlsGateway = await startGateway(
          {
            ...readGatewayConfig({ FAAS_OIDC_ISSUER: mesh.identity.issuer }),
            listenAddress: '127.0.0.1:0',
            schedulerAddress: mesh.scheduler.address,
            meshTls: readMeshTls(mesh.certificates.env('gateway')),
            publicTls: mesh.certificates.services.gateway,
          },
          mesh.log.child({ service: 'gateway-tls' }),
        );
        tlsEdge = await startEdge(
          { ...edgeConfig, gatewayAddress: tlsGateway.address, meshTls: readMeshTls(mesh.certificates.env('observer')) },
          mesh.log.child({ service: 'edge-tls' }),
        );
        const jobId = await submitThroughEdge(['true']);
        const reply = await call(tlsEdge.url, paths.status, StatusRequest.encode({ jobId }).finish(), { token });
        assert.equal(reply.code, GrpcStatus.OK, reply.message);
        assert.equal(StatusResponse.decode(reply.messages[0]!).job?.id, jobId);
      } finally {
        await tlsEdge?.close();
        await tlsGateway?.stop();
      }
    });

    it('close ends open streams with UNAVAILABLE', async () => {
      const closing = await startEdge(edgeConfig, mesh.log.child({ service: 'edge' }));
      const jobId = await submitThroughEdge(longJob);
      try {
        const response = await send(closing.url, paths.watch, WatchRequest.encode({ jobId }).finish(), { token });
        const reader = new FrameReader(response, 'binary');
        await readUntil(reader, isRunning, 'the RUNNING record');
        const closed = closing.close();
        const rest = await readReply(response, 'binary', reader);
        await closed;
        assert.equal(rest.code, GrpcStatus.UNAVAILABLE);
        assert.match(rest.message, /shutting down/);
      } finally {
        await cancelIfRunning(jobId);
      }
    });
  });
});
