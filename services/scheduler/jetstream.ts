import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../../common/nats-connect.js';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { natsNames, type NatsNames } from '../../common/nats-names.js';
import type { Readiness } from '../../common/readiness.js';
import type { Logger } from '../../common/logger.js';
import type { SchedulerConfig } from './config.js';
import type { NatsLink } from './nats-link.js';
import { writeOncePerTurn } from './nats-writes.js';
import { skipErrorsOfSettledRequests } from './nats-requests.js';

const nanosPerMs = 1_000_000;
/** Records kept per job key: every state and phase change of a few attempts, for Watch. */
const jobHistory = 32;
/** Jobs a dispatch consumer may hold unacknowledged across all replicas. */
const maxAckPending = 10_000;

export interface JetStreamHandles {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
  jobs: KV;
  /** True when the job bucket republishes each stored version to `names.recordSubject(jobId)`. */
  republishesRecords: boolean;
  index: KV;
  blobs: ObjectStore;
  /** Job results small enough for one message (see JobBlobs). */
  results: KV;
}

/**
 * Connects to NATS and creates what the scheduler needs if it is missing:
 * the job queue (work-queue retention, de-duplicated by message id), its
 * durable dispatch consumer, the log stream, the job and index buckets and
 * the object store for inputs and results.
 */
export async function openJetStream(config: SchedulerConfig, log: Logger): Promise<JetStreamHandles> {
  const nc = await connectNats({
    servers: config.natsUrl,
    name: `faas-scheduler-${config.schedulerId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // Each request would otherwise capture a stack trace in case it fails.
    noAsyncTraces: true,
  });
  if (!writeOncePerTurn(nc)) log.warn('this nats.js version cannot batch its writes per turn; the scheduler makes more write calls');
  if (!skipErrorsOfSettledRequests()) log.warn('this nats.js version has no RequestOne to change; each completed request makes an error');
  const names = natsNames(config.natsPrefix);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);

  await ensureStream(jsm, log, {
    name: names.jobStream,
    subjects: [names.jobSubject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: config.duplicateWindowMs * nanosPerMs,
    discard: DiscardPolicy.Old,
    num_replicas: config.natsReplicas,
  }, ['duplicate_window']);
  await ensureDispatchConsumer(jsm, names, config, log);
  await ensureStream(jsm, log, {
    name: names.logStream,
    subjects: [`${names.logSubjectPrefix}.*`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: config.logMaxAgeMs * nanosPerMs,
    discard: DiscardPolicy.Old,
    num_replicas: config.natsReplicas,
  }, ['max_age']);

  const kvm = new Kvm(js);
  // Settings apply when a stream or bucket is created; an existing one keeps its own.
  const replicas = config.natsReplicas;
  // Each stored version of a record is republished, so Watch can follow a job without a consumer of its own.
  const republish = { src: `$KV.${names.jobsBucket}.>`, dest: `${names.recordSubjectPrefix}.>` };
  const jobs = await kvm.create(names.jobsBucket, { history: jobHistory, storage: StorageType.File, replicas, republish });
  const jobsConfig = (await jsm.streams.info(`KV_${names.jobsBucket}`)).config;
  const republishesRecords = jobsConfig.republish?.src === republish.src && jobsConfig.republish.dest === republish.dest;
  if (!republishesRecords) {
    // NATS 2.9 cannot add republishing to a stream that exists.
    log.warn(
      { bucket: names.jobsBucket },
      'the job bucket was created without republishing, so each Watch stream uses a consumer of its own; a bucket created by this version republishes',
    );
  }
  const index = await kvm.create(names.indexBucket, { history: 1, storage: StorageType.File, replicas });
  const blobs = await new Objm(js).create(names.blobsBucket, { storage: StorageType.File, replicas });
  const results = await kvm.create(names.resultsBucket, { history: 1, storage: StorageType.File, replicas });
  return { nc, js, jsm, names, jobs, republishesRecords, index, blobs, results };
}

type StreamSettings = Parameters<JetStreamManager['streams']['add']>[0];

/**
 * Creates a stream, or brings the `editable` settings of an existing one in
 * step with `settings`. Other settings, such as the number of replicas, stay
 * as the stream was created.
 */
async function ensureStream(jsm: JetStreamManager, log: Logger, settings: StreamSettings, editable: Array<'max_age' | 'duplicate_window'> = []): Promise<void> {
  try {
    const { config } = await jsm.streams.info(settings.name!);
    const changed = editable.filter((key) => settings[key] !== undefined && config[key] !== settings[key]);
    if (changed.length === 0) return;
    const settingsChange = Object.fromEntries(changed.map((key) => [key, { from: config[key], to: settings[key] }]));
    try {
      await jsm.streams.update(settings.name!, { ...config, ...Object.fromEntries(changed.map((key) => [key, settings[key]])) });
      log.info({ stream: settings.name, settings: settingsChange }, 'updated the settings of a stream');
    } catch (error) {
      // The stream works with its old settings, so the scheduler starts all the same.
      log.warn({ err: error, stream: settings.name, settings: settingsChange }, 'failed to update the settings of a stream; it keeps its old ones');
    }
    return;
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.status !== 404) throw error;
  }
  try {
    await jsm.streams.add(settings);
    log.info({ stream: settings.name }, 'created stream');
  } catch (error) {
    // Another replica may have created it at the same moment.
    await jsm.streams.info(settings.name!).catch(() => {
      throw error;
    });
  }
}

/**
 * Creates the dispatch consumer, or brings an existing one to this
 * version's settings. Since nats-server 2.10, the create request that
 * nats.js sends fails for a durable consumer that exists with other
 * settings, so a changed FAAS_ACK_WAIT would otherwise stop every replica
 * from starting.
 */
async function ensureDispatchConsumer(jsm: JetStreamManager, names: NatsNames, config: SchedulerConfig, log: Logger): Promise<void> {
  const target = {
    ack_wait: config.ackWaitMs * nanosPerMs,
    // Attempts are counted in the job record, not by redeliveries.
    max_deliver: -1,
    max_ack_pending: maxAckPending,
  };
  let existing = await consumerConfig(jsm, names);
  if (!existing) {
    try {
      await jsm.consumers.add(names.jobStream, {
        ...target,
        durable_name: names.dispatchConsumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: names.jobSubject,
      });
      return;
    } catch (error) {
      // Another replica may have created it at the same moment, with settings of its own version.
      existing = await consumerConfig(jsm, names);
      if (!existing) throw error;
    }
  }
  const changed = (Object.keys(target) as Array<keyof typeof target>).filter((key) => existing[key] !== target[key]);
  if (changed.length === 0) return;
  await jsm.consumers.update(names.jobStream, names.dispatchConsumer, target);
  log.info(
    { consumer: names.dispatchConsumer, settings: Object.fromEntries(changed.map((key) => [key, { from: existing[key], to: target[key] }])) },
    'updated the settings of the dispatch consumer',
  );
}

async function consumerConfig(jsm: JetStreamManager, names: NatsNames) {
  try {
    return (await jsm.consumers.info(names.jobStream, names.dispatchConsumer)).config;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.status === 404) return undefined;
    throw error;
  }
}

/**
 * Keeps the "nats" condition of `readiness`, and `link`, in step with the
 * connection: failing from a disconnect until the client reconnects, and
 * for good once the connection closes.
 */
export async function followNatsStatus(nc: NatsConnection, readiness: Readiness, link: NatsLink, log: Logger): Promise<void> {
  readiness.set('nats', !nc.isClosed());
  link.set(!nc.isClosed());
  for await (const status of nc.status()) {
    if (status.type === 'disconnect') {
      readiness.set('nats', false, 'disconnected from NATS; reconnecting');
      link.set(false);
      log.warn({ server: status.server }, 'disconnected from NATS; reconnecting');
    } else if (status.type === 'reconnect') {
      readiness.set('nats', true);
      link.set(true);
      log.info({ server: status.server }, 'reconnected to NATS');
    } else if (status.type === 'close') {
      readiness.set('nats', false, 'the NATS connection is closed');
      link.set(false);
    }
  }
}
