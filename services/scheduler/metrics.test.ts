import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startNatsServer, type NatsServerHandle } from '../../dev/nats-server.js';
import { readSchedulerConfig } from './config.js';
import { openJetStream, type JetStreamHandles } from './jetstream.js';
import { firstUndelivered } from './metrics.js';

describe('firstUndelivered', function () {
  this.timeout(30_000);
  let nats: NatsServerHandle;
  let handles: JetStreamHandles;

  before(async () => {
    nats = await startNatsServer({});
    handles = await openJetStream(readSchedulerConfig({ NATS_URL: nats.url, FAAS_NATS_PREFIX: 'AGE' }), pino({ level: 'silent' }));
  });
  after(async () => {
    await handles?.nc.close();
    await nats?.stop();
  });

  const delivered = async () => (await handles.jsm.consumers.info(handles.names.jobStream, handles.names.dispatchConsumer)).delivered.stream_seq;

  it('dates the oldest job that no worker was handed yet', async () => {
    assert.equal(await firstUndelivered(handles, await delivered()), undefined, 'an empty queue has none');

    const first = await handles.js.publish(handles.names.jobSubject, new TextEncoder().encode('{"jobId":"a"}'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await handles.js.publish(handles.names.jobSubject, new TextEncoder().encode('{"jobId":"b"}'));
    const stored = await handles.jsm.streams.getMessage(handles.names.jobStream, { seq: first.seq });
    assert.ok(stored, 'the first message is stored');
    const firstQueuedAt = stored.time;
    assert.deepEqual(await firstUndelivered(handles, await delivered()), firstQueuedAt);

    // Once the first is handed out, the second is the oldest waiting job.
    const consumer = await handles.js.consumers.get(handles.names.jobStream, handles.names.dispatchConsumer);
    const handedOut = await consumer.next({ expires: 5_000 });
    assert.equal(handedOut?.seq, first.seq);
    const second = await firstUndelivered(handles, await delivered());
    assert.ok(second, 'the second message is waiting');
    assert.ok(second.getTime() > firstQueuedAt.getTime(), `the second message's time, got ${second.toISOString()}`);
    handedOut?.ack();
  });
});
