import assert from 'node:assert/strict';
import { RequestOne } from '@nats-io/nats-core/internal';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../../dev/nats-server.js';
import { skipErrorsOfSettledRequests } from './nats-requests.js';

type Resolver = (error: Error | null, message: unknown) => void;

describe('skipErrorsOfSettledRequests', function () {
  this.timeout(30_000);
  let nats: NatsServerHandle;
  let nc: NatsConnection;

  before(async () => {
    assert.equal(skipErrorsOfSettledRequests(), true);
    nats = await startNatsServer({});
    nc = await connect({ servers: nats.url, noAsyncTraces: true });
    nc.subscribe('echo', {
      callback: (_error, message) => {
        message.respond(message.data);
      },
    });
    await nc.flush();
  });
  after(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('answers requests as before', async () => {
    const reply = await nc.request('echo', 'ping', { timeout: 5_000 });
    assert.equal(reply.string(), 'ping');
    await assert.rejects(nc.request('nobody.listens', 'ping', { timeout: 5_000 }), /no responders/i);
  });

  it('makes no error for a settled request', async () => {
    // Records what each request's promise is rejected with after its reply.
    const methods = RequestOne.prototype as unknown as { resolver: Resolver };
    const resolver = methods.resolver;
    const rejected: unknown[] = [];
    methods.resolver = function (this: { deferred: { reject(error: unknown): void } }, error, message) {
      const reject = this.deferred.reject.bind(this.deferred);
      this.deferred.reject = (reason) => {
        rejected.push(reason);
        reject(reason);
      };
      resolver.call(this, error, message);
    };
    try {
      await nc.request('echo', 'one', { timeout: 5_000 });
      await nc.request('echo', 'two', { timeout: 5_000 });
    } finally {
      methods.resolver = resolver;
    }
    assert.equal(rejected.length, 2);
    assert.equal(rejected[0], rejected[1], 'each settled request made an error of its own');
  });
});
