import assert from 'node:assert/strict';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { JobServiceService, SubmitRequest } from '../gen/faas/v1/job_service.js';
import { EventEmitter } from 'node:events';
import { Metadata, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { pino } from 'pino';
import { ErrorCode, FaasError } from './errors.js';
import { rejectUndecodable, serverStream, tolerantService, unary } from './grpc-server.js';

/** Decodes `bytes` with the tolerant decoder of Submit and returns the handler's error message, if any. */
function submitAnswer(bytes: Uint8Array): string | undefined {
  const request = tolerantService(JobServiceService).submit.requestDeserialize(Buffer.from(bytes));
  try {
    rejectUndecodable(request);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof FaasError);
    assert.equal(error.code, 'invalid_argument');
    return error.message;
  }
}

describe('tolerantService', () => {
  it('passes a valid request through', () => {
    const bytes = SubmitRequest.encode(SubmitRequest.fromPartial({ spec: { repositoryUrl: 'https://example.com/r.git' } })).finish();
    assert.equal(submitAnswer(bytes), undefined);
  });

  it('names the 64-bit fields when a value is too large to read', () => {
    const writer = new BinaryWriter();
    writer.tag(1, WireType.LengthDelimited).fork();
    writer.tag(10, WireType.LengthDelimited).fork().tag(1, WireType.Varint).uint64(2n ** 60n).join();
    writer.join();
    assert.equal(
      submitAnswer(writer.finish()),
      'request: has a 64-bit integer above 9007199254740991 (2^53 - 1), larger than any field accepts; check the sizes in spec.limits and the offset of Logs',
    );
  });

  it('reports other wire errors as undecodable', () => {
    assert.match(submitAnswer(Buffer.from([0x0a, 0x7f, 0x0a, 0x01]))!, /^request: is not a valid protobuf message of this method \(/);
  });
});

describe('unary', () => {
  it('logs one line for a burst of UNAVAILABLE failures of one method', async () => {
    const lines: Array<{ msg: string; method: string }> = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string; method: string }) });
    const failing = unary(log, 'Submit', async () => {
      throw new FaasError(ErrorCode.Unavailable, 'the scheduler is unavailable');
    });
    const other = unary(log, 'Status', async () => {
      throw new FaasError(ErrorCode.Unavailable, 'the scheduler is unavailable');
    });
    const call = (handler: typeof failing) =>
      new Promise<void>((resolve) => handler({ request: {}, metadata: new Metadata(), on: () => undefined } as unknown as ServerUnaryCall<object, object>, () => resolve()));

    for (let index = 0; index < 20; index++) await call(failing);
    await call(other);

    assert.deepEqual(
      lines.map((line) => line.method),
      ['Submit', 'Status'],
    );
  });
});

describe('serverStream', () => {
  it('takes many open streams without a listener warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    const shutdown = new AbortController();
    try {
      const watch = serverStream(pino({ level: 'silent' }), 'Watch', (_request, _metadata, _send, signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())), shutdown.signal);
      for (let index = 0; index < 20; index++) {
        const call = Object.assign(new EventEmitter(), { request: {}, metadata: new Metadata(), write: () => true, end: () => undefined });
        call.on('error', () => undefined);
        watch(call as unknown as ServerWritableStream<object, object>);
      }
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, []);
    } finally {
      shutdown.abort();
      process.off('warning', onWarning);
    }
  });
});
