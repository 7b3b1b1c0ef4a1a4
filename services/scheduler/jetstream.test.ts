import assert from 'node:assert/strict';
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { startNatsServer, type NatsServerHandle } from '../../dev/nats-server.js';
import { readSchedulerConfig } from './config.js';
import { openJetStream } from './jetstream.js';

const nanosPerMs = 1_000_000;

describe('openJetStream', function () {
  this.timeout(30_000);
  let nats: NatsServerHandle;
  const log = pino({ level: 'silent' });

  before(async () => {
    nats = await startNatsServer({});
  });
  after(async () => {
    await nats?.stop();
  });

  /** Opens the scheduler's streams with `env` added to the settings, and returns the queue's and the log's settings. */
  async function open(prefix: string, env: Record<string, string>) {
    const config = readSchedulerConfig({ NATS_URL: nats.url, FAAS_NATS_PREFIX: prefix, ...env });
    const handles = await openJetStream(config, log);
    try {
      const consumer = (await handles.jsm.consumers.info(handles.names.jobStream, handles.names.dispatchConsumer)).config;
      const queue = (await handles.jsm.streams.info(handles.names.jobStream)).config;
      const logs = (await handles.jsm.streams.info(handles.names.logStream)).config;
      return { consumer, queue, logs };
    } finally {
      await handles.nc.close();
    }
  }

  it('applies changed settings to the queue, its consumer and the log', async () => {
    const first = await open('CHANGED', { FAAS_ACK_WAIT: '30s', FAAS_DUPLICATE_WINDOW: '2m', FAAS_LOG_MAX_AGE: '24h' });
    assert.equal(first.consumer.ack_wait, 30_000 * nanosPerMs);

    const second = await open('CHANGED', { FAAS_ACK_WAIT: '90s', FAAS_DUPLICATE_WINDOW: '5m', FAAS_LOG_MAX_AGE: '48h' });
    assert.equal(second.consumer.ack_wait, 90_000 * nanosPerMs);
    assert.equal(second.queue.duplicate_window, 300_000 * nanosPerMs);
    assert.equal(second.logs.max_age, 2 * 86_400_000 * nanosPerMs);
  });

  it('brings a consumer made with other settings in step', async () => {
    // As an earlier version, or an operator by hand, might have left it.
    const config = readSchedulerConfig({ NATS_URL: nats.url, FAAS_NATS_PREFIX: 'OLDER' });
    const handles = await openJetStream(config, log);
    const jsm = await jetstreamManager(handles.nc);
    await jsm.consumers.delete(handles.names.jobStream, handles.names.dispatchConsumer);
    await jsm.consumers.add(handles.names.jobStream, {
      durable_name: handles.names.dispatchConsumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 10_000 * nanosPerMs,
      max_deliver: 5,
      max_ack_pending: 100,
      filter_subject: handles.names.jobSubject,
    });
    await handles.nc.close();

    const { consumer } = await open('OLDER', { FAAS_ACK_WAIT: '45s' });
    assert.equal(consumer.ack_wait, 45_000 * nanosPerMs);
    assert.equal(consumer.max_deliver, -1);
    assert.equal(consumer.max_ack_pending, 10_000);
  });
});
