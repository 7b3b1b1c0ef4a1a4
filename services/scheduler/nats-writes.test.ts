import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../../dev/nats-server.js';
import { writeOncePerTurn } from './nats-writes.js';

/** Counts the writes that the connection hands to its socket. */
function countWrites(nc: NatsConnection): () => number {
  const transport = (nc as unknown as { protocol: { transport: { send(frame: Uint8Array): void } } }).protocol.transport;
  const send = transport.send.bind(transport);
  let writes = 0;
  transport.send = (frame: Uint8Array) => {
    writes++;
    send(frame);
  };
  return () => writes;
}

/** Publishes `count` messages, each from a timer callback of its own, all due in the same turn. */
async function publishFromTimers(nc: NatsConnection, subject: string, count: number): Promise<void> {
  await new Promise<void>((resolve) => {
    let left = count;
    for (let index = 0; index < count; index++) {
      setTimeout(() => {
        nc.publish(subject, String(index));
        if (--left === 0) resolve();
      }, 0);
    }
  });
  await nc.flush();
}

describe('writeOncePerTurn', function () {
  this.timeout(30_000);
  let nats: NatsServerHandle;
  const connections: NatsConnection[] = [];

  before(async () => {
    nats = await startNatsServer({});
  });
  after(async () => {
    for (const nc of connections) await nc.close();
    await nats?.stop();
  });

  async function open(): Promise<NatsConnection> {
    const nc = await connect({ servers: nats.url });
    connections.push(nc);
    return nc;
  }

  it('writes the commands of one turn in one call', async () => {
    const plain = await open();
    const batched = await open();
    assert.equal(writeOncePerTurn(batched), true);
    const plainWrites = countWrites(plain);
    const batchedWrites = countWrites(batched);

    await publishFromTimers(plain, 'writes.plain', 50);
    await publishFromTimers(batched, 'writes.batched', 50);

    assert.ok(plainWrites() >= 50, `without it, ${plainWrites()} writes`);
    // The publishes, then the flush's PING in a later turn.
    assert.ok(batchedWrites() <= 3, `with it, ${batchedWrites()} writes`);
  });

  it('delivers every message, reply and flush', async () => {
    const receiver = await open();
    const sender = await open();
    writeOncePerTurn(sender);
    const received: string[] = [];
    const subscription = receiver.subscribe('writes.all', { callback: (_error, message) => void received.push(message.string()) });
    receiver.subscribe('writes.echo', { callback: (_error, message) => void message.respond(message.data) });
    await receiver.flush();

    for (let index = 0; index < 1_000; index++) {
      sender.publish('writes.all', String(index));
      if (index % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const reply = await sender.request('writes.echo', 'ping', { timeout: 5_000 });
    assert.equal(reply.string(), 'ping');
    await sender.drain();
    connections.splice(connections.indexOf(sender), 1);
    await receiver.flush();
    await subscription.drain();

    assert.equal(received.length, 1_000);
    assert.deepEqual(received.slice(0, 3), ['0', '1', '2']);
    assert.equal(received.at(-1), '999');
  });
});
