import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from './nats-server.js';

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function countStreamMessages(url: string, stream: string): Promise<number> {
  const connection = await connect({ servers: url });
  try {
    const manager = await jetstreamManager(connection);
    const info = await manager.streams.info(stream);
    return info.state.messages;
  } finally {
    await connection.close();
  }
}

describe('nats-server harness', () => {
  let server: NatsServerHandle | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('starts JetStream on loopback', async () => {
    server = await startNatsServer();

    assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server.url, `nats://127.0.0.1:${server.port}`);
    assert.ok(isProcessAlive(server.pid), `pid ${server.pid} is not running`);

    const connection = await connect({ servers: server.url });
    try {
      const manager = await jetstreamManager(connection);
      await manager.streams.add({ name: 'ORDERS', subjects: ['orders.>'] });
      const ack = await jetstream(connection).publish('orders.created', 'order 1');
      assert.equal(ack.stream, 'ORDERS');
      assert.equal(ack.seq, 1);
    } finally {
      await connection.close();
    }
  });

  it('keeps stream messages across kill and restart', async () => {
    server = await startNatsServer();
    const connection = await connect({ servers: server.url });
    try {
      const manager = await jetstreamManager(connection);
      await manager.streams.add({ name: 'JOBS', subjects: ['jobs.>'] });
      await jetstream(connection).publish('jobs.new', 'job 1');
    } finally {
      await connection.close();
    }

    const firstPid = server.pid;
    await server.kill();
    assert.equal(isProcessAlive(firstPid), false, 'killed server still runs');
    assert.ok(existsSync(server.storeDir), 'kill() removed the store dir');

    await server.restart();
    assert.notEqual(server.pid, firstPid);
    assert.ok(isProcessAlive(server.pid));
    assert.equal(await countStreamMessages(server.url, 'JOBS'), 1);
  });

  it('restarts after stop with keepStoreDir', async () => {
    server = await startNatsServer();
    const connection = await connect({ servers: server.url });
    try {
      const manager = await jetstreamManager(connection);
      await manager.streams.add({ name: 'EVENTS', subjects: ['events.>'] });
      await jetstream(connection).publish('events.a', 'a');
      await jetstream(connection).publish('events.b', 'b');
    } finally {
      await connection.close();
    }

    await server.stop({ keepStoreDir: true });
    assert.ok(existsSync(server.storeDir));

    await server.restart();
    assert.equal(await countStreamMessages(server.url, 'EVENTS'), 2);
  });

  it('stop ends the process and removes its store dir', async () => {
    const stopped = await startNatsServer();
    const pid = stopped.pid;

    await stopped.stop();

    assert.equal(isProcessAlive(pid), false, `pid ${pid} still runs after stop()`);
    assert.equal(existsSync(stopped.storeDir), false, 'store dir still exists');
    await assert.rejects(stopped.restart(), /was removed by stop\(\)/);
  });

  it('stop keeps a store dir given by the caller', async () => {
    const storeDir = await mkdtemp(join(tmpdir(), 'faas-nats-test-'));
    try {
      const stopped = await startNatsServer({ storeDir });
      await stopped.stop();
      assert.ok(existsSync(storeDir));
    } finally {
      await rm(storeDir, { recursive: true, force: true });
    }
  });

  it('restart rejects while the server runs', async () => {
    server = await startNatsServer();

    await assert.rejects(server.restart(), /still running/);
  });

  it('start fails with output when the port is taken', async () => {
    server = await startNatsServer();

    await assert.rejects(startNatsServer({ port: server.port }), (error: Error) => {
      assert.match(error.message, /failed to start on port/);
      assert.match(error.message, /address already in use/);
      return true;
    });
  });

  it('writes the server log to logFile', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'faas-nats-log-'));
    const logFile = join(folder, 'nats.log');
    try {
      const logged = await startNatsServer({ logFile });
      await logged.stop();

      const log = await readFile(logFile, 'utf8');
      assert.match(log, /Server is ready/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
