import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { Server } from '@grpc/grpc-js';
import { listen } from './grpc-server.js';
import { listenHttp } from './http-listen.js';
import { connectNats } from './nats-connect.js';

/** Holds a loopback port until closed. */
async function holdPort(): Promise<{ address: string; port: number; server: NetServer }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { address: `127.0.0.1:${port}`, port, server };
}

describe('start-up errors', () => {
  it('names the setting of a gRPC address whose port is in use', async () => {
    const held = await holdPort();
    const server = new Server();
    try {
      await assert.rejects(
        listen(server, held.address, undefined, 'GATEWAY_ADDRESS'),
        new RegExp(`^Error: cannot listen on ${held.address} \\(GATEWAY_ADDRESS\\): the port is in use; stop what uses it, or set GATEWAY_ADDRESS to another address$`),
      );
    } finally {
      server.forceShutdown();
      held.server.close();
    }
  });

  it('names the setting of an HTTP address whose port is in use', async () => {
    const held = await holdPort();
    const server = createHttpServer();
    try {
      await assert.rejects(listenHttp(server, held.address, 'FAAS_METRICS_ADDRESS'), /\(FAAS_METRICS_ADDRESS\): the port is in use; stop what uses it, or set FAAS_METRICS_ADDRESS to another address$/);
    } finally {
      server.close();
      held.server.close();
    }
  });

  it('names NATS_URL when NATS does not answer', async () => {
    const held = await holdPort();
    // Nothing listens on the port once it is closed.
    await new Promise((resolve) => held.server.close(resolve));
    const url = `nats://${held.address}`;
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
