import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from './nats-server.js';

/** A private nats-server and one connection to it, shared by the tests of a suite. */
export interface NatsSuite {
  readonly server: NatsServerHandle;
  readonly nc: NatsConnection;
}

/**
 * Starts a private nats-server and connects to it in a `before` hook of the
 * enclosing mocha suite, and closes both in an `after` hook. Call it inside
 * `describe`. The returned fields can be read once the hook has run.
 */
export function useNatsServer(options: Omit<NodeConnectionOptions, 'servers'> = {}): NatsSuite {
  let server: NatsServerHandle | undefined;
  let nc: NatsConnection | undefined;
  before(async () => {
    server = await startNatsServer({});
    nc = await connect({ ...options, servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('the nats-server starts in the suite\'s before hook; read it inside a test or a later hook');
      return server;
    },
    get nc() {
      if (!nc) throw new Error('the NATS connection opens in the suite\'s before hook; read it inside a test or a later hook');
      return nc;
    },
  };
}
