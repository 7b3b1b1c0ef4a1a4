import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { Server } from '@grpc/grpc-js';
import { listen } from './grpc-server.js';
import { listenHttp } from './http-listen.js';
import { connectNats } from './nats-connect.js';

/** Opens a listener on a free loopback port, so that the port is in use until the listener closes. */
async function occupyPort(): Promise<{ address: string; port: number; server: NetServer }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { address: `127.0.0.1:${port}`, port, server };
}

describe('start-up errors', () => {
  it('names the setting of a gRPC address whose port is in use', async () => {
    const busy = await occupyPort();
    const server = new Server();
    try {
      await assert.rejects(
        listen(server, busy.address, undefined, 'GATEWAY_ADDRESS'),
        new RegExp(`^Error: cannot listen on ${busy.address} \\(GATEWAY_ADDRESS\\): the port is in use; stop what uses it, or set GATEWAY_ADDRESS to another address$`),
      );
    } finally {
      server.forceShutdown();
      busy.server.close();
    }
  });

  it('names the setting of an HTTP address whose port is in use', async () => {
    const busy = await occupyPort();
    const server = createHttpServer();
    try {
      await assert.rejects(listenHttp(server, busy.address, 'FAAS_METRICS_ADDRESS'), /\(FAAS_METRICS_ADDRESS\): the port is in use; stop what uses it, or set FAAS_METRICS_ADDRESS to another address$/);
    } finally {
      server.close();
      busy.server.close();
    }
  });

  it('names NATS_URL when NATS does not answer', async () => {
    const busy = await occupyPort();
    // Nothing listens on the port once it is closed.
    await new Promise((resolve) => busy.server.close(resolve));
    const url = `nats://${busy.address}`;
    await assert.rejects(
      connectNats({ servers: url, maxReconnectAttempts: 0, timeout: 2_000 }),
      (error: Error) => {
        assert.ok(error.message.startsWith(`cannot connect to NATS at ${url} (NATS_URL): `), error.message);
        assert.ok(error.message.endsWith('; start nats-server there, or set NATS_URL to its address'), error.message);
        return true;
      },
    );
  });
});
