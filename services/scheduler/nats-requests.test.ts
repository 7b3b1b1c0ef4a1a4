import assert from 'node:assert/strict';
import { RequestOne } from '@nats-io/nats-core/internal';
import { useNatsServer } from '../../dev/nats-suite.js';
import { skipErrorsOfSettledRequests } from './nats-requests.js';

type Resolver = (error: Error | null, message: unknown) => void;

describe('skipErrorsOfSettledRequests', function () {
  this.timeout(30_000);
  const nats = useNatsServer({ noAsyncTraces: true });

  before(async () => {
    assert.equal(skipErrorsOfSettledRequests(), true);
    nats.nc.subscribe('echo', {
      callback: (_error, message) => {
        message.respond(message.data);
      },
    });
    await nats.nc.flush();
  });

  it('answers requests as before', async () => {
    const reply = await nats.nc.request('echo', 'ping', { timeout: 5_000 });
    assert.equal(reply.string(), 'ping');
    await assert.rejects(nats.nc.request('nobody.listens', 'ping', { timeout: 5_000 }), /no responders/i);
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
      await nats.nc.request('echo', 'one', { timeout: 5_000 });
      await nats.nc.request('echo', 'two', { timeout: 5_000 });
    } finally {
      methods.resolver = resolver;
    }
    assert.equal(rejected.length, 2);
    assert.equal(rejected[0], rejected[1], 'each settled request made an error of its own');
  });
});
