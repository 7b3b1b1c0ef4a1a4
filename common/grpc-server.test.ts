import assert from 'node:assert/strict';
import { credentials, Metadata, Server, ServerCredentials, status, type ServiceDefinition, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, FaasError } from './errors.js';
import { createLogger } from './logger.js';
import { unary } from './grpc-server.js';

/** A service of one unary method whose messages are raw bytes. */
const echoService: ServiceDefinition = {
  echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (value: Buffer) => value,
    responseDeserialize: (bytes: Buffer) => bytes,
  },
};

type EchoClient = {
  echo(request: Buffer, callback: (error: ServiceError | null, response?: Buffer) => void): { cancel(): void };
  close(): void;
};

describe('unary handlers', () => {
  let server: Server;
  let client: EchoClient;
  /** The signal of each call, in the order the calls arrived. */
  const signals: AbortSignal[] = [];
  /** Resolves the calls that wait for the test. */
  let release: () => void = () => undefined;

  before(async () => {
    server = new Server();
    server.addService(
      echoService,
      {
        echo: unary(createLogger('test', 'silent'), 'Echo', async (request: Buffer, _metadata: Metadata, signal: AbortSignal) => {
          signals.push(signal);
          if (request.toString() === 'wait') {
            await new Promise<void>((resolve, reject) => {
              release = resolve;
              signal.addEventListener('abort', () => reject(signal.reason), { once: true });
            });
          }
          return request;
        }),
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const Client = makeGenericClientConstructor(echoService, 'Echo');
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as EchoClient;
  });
  after(() => {
    client?.close();
    server?.forceShutdown();
  });

  it('keeps the signal after a response', async () => {
    const reply = await new Promise<Buffer>((resolve, reject) => client.echo(Buffer.from('hello'), (error, response) => (error ? reject(error) : resolve(response!))));
    assert.equal(reply.toString(), 'hello');
    // grpc-js reports the closed stream as cancelled a moment after the response.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(signals.at(-1)!.aborted, false);
  });

  it('aborts the signal on cancel', async () => {
    const before = signals.length;
    const outcome = new Promise<ServiceError | null>((resolve) => {
      const call = client.echo(Buffer.from('wait'), (error) => resolve(error));
      const cancelOnceArrived = setInterval(() => {
        if (signals.length > before) {
          clearInterval(cancelOnceArrived);
          call.cancel();
        }
      }, 5);
    });
    assert.equal((await outcome)?.code, status.CANCELLED);
    const signal = signals[before];
    const deadline = Date.now() + 5_000;
    while (!signal.aborted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    release();
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof FaasError);
    assert.equal(signal.reason.code, ErrorCode.Cancelled);
  });
});
