import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readAddress, readDurationMs, readInt, readString, ConfigError } from '../../common/config.js';
import { natsPrefixPattern } from '../../common/nats-names.js';
import { checkPlaintext, readMeshTls, type MeshTlsConfig } from '../../common/tls.js';

export interface SchedulerConfig {
  /** SCHEDULER_ADDRESS: where the scheduler listens for the gateway and workers. Default 127.0.0.1:50052. */
  listenAddress: string;
  /** NATS_URL: the NATS server with JetStream. Default nats://127.0.0.1:4222. */
  natsUrl: string;
  /** FAAS_NATS_REPLICAS: copies of each stream and bucket in a NATS cluster, 1 to 5 (usually 1, 3 or 5). Default 1. */
  natsReplicas: number;
  /** FAAS_NATS_PREFIX: prefix of every stream, bucket and subject name. Default FAAS. */
  natsPrefix: string;
  /** SCHEDULER_ID: name of this replica in logs and job records. Default hostname-pid-random. */
  schedulerId: string;
  /** FAAS_ACK_WAIT: how long JetStream waits for the scheduler to extend a running job before redelivering it. Default 30s. */
  ackWaitMs: number;
  /** FAAS_DEFAULT_TIMEOUT: timeout of jobs that set none, in seconds. Default 300. */
  defaultTimeoutSeconds: number;
  /** FAAS_MAX_ATTEMPTS: attempts of a job whose retry policy names none. Default 3. */
  maxAttempts: number;
  /** FAAS_MAX_ATTEMPTS_LIMIT: most attempts a job's retry policy may ask for. Default 10. */
  maxAttemptsLimit: number;
  /** FAAS_RETRY_BASE_DELAY: wait before the second attempt; it doubles for each later one. Default 1s. */
  retryBaseDelayMs: number;
  /** FAAS_RETRY_MAX_DELAY: longest wait between attempts. Default 60s. */
  retryMaxDelayMs: number;
  /** FAAS_HEARTBEAT_INTERVAL: how often workers send heartbeats. Default 5s; a worker silent for 3 intervals is dropped. */
  heartbeatIntervalMs: number;
  /** FAAS_DUPLICATE_WINDOW: how long JetStream de-duplicates Submits by idempotency key. Default 2m (the KV keeps them longer). */
  duplicateWindowMs: number;
  /** FAAS_LOG_MAX_AGE: how long job output is kept, in the log stream. Default 7 days. */
  logMaxAgeMs: number;
  /** FAAS_RETENTION: how long a finished job, its result and its output are kept. Default 7 days (168h). */
  retentionMs: number;
  /** FAAS_RETENTION_SWEEP_INTERVAL: how often finished jobs past their retention are deleted. Default 1h. */
  retentionSweepIntervalMs: number;
  /** SCHEDULER_SHUTDOWN_GRACE: how long SIGTERM waits for calls to finish. Default 10s. */
  shutdownGraceMs: number;
  /**
   * SCHEDULER_DRAIN_GRACE: how long SIGTERM lets the workers finish the jobs
   * this replica handed out, with no new ones, before it leaves the rest to
   * the replica the workers reconnect to (see FAAS_ADOPTION_GRACE). Default 30s.
   */
  drainGraceMs: number;
  /**
   * FAAS_ADOPTION_GRACE: how long a worker keeps its jobs running after its
   * stream to a scheduler broke, while it reconnects, and how long the
   * replica it lost keeps those jobs for it. A replica it reaches in time,
   * the same or another, takes them over. Default 15s; 0 stops them at once.
   */
  adoptionGraceMs: number;
  /** FAAS_MAX_ACTIVE_JOBS: queued and running jobs one owner may have at once. Default 20. */
  maxActiveJobsPerOwner: number;
  /** FAAS_TLS_CA, FAAS_TLS_CERT, FAAS_TLS_KEY: mutual TLS; every caller must present a certificate of the CA. */
  tls?: MeshTlsConfig;
}

export function readSchedulerConfig(env: Record<string, string | undefined> = process.env): SchedulerConfig {
  const natsPrefix = readString(env, 'FAAS_NATS_PREFIX', 'FAAS');
  if (!natsPrefixPattern.test(natsPrefix)) {
    throw new ConfigError(`FAAS_NATS_PREFIX=${natsPrefix} is invalid: use 1 to 32 letters, digits or _, starting with a letter`);
  }
  const listenAddress = readAddress(env, 'SCHEDULER_ADDRESS', '127.0.0.1:50052');
  const tls = readMeshTls(env);
  if (!tls) checkPlaintext(env, 'SCHEDULER_ADDRESS', listenAddress);
  return {
    listenAddress,
    tls,
    maxActiveJobsPerOwner: readInt(env, 'FAAS_MAX_ACTIVE_JOBS', 20, 1, 100_000),
    natsUrl: readString(env, 'NATS_URL', 'nats://127.0.0.1:4222'),
    natsReplicas: readInt(env, 'FAAS_NATS_REPLICAS', 1, 1, 5),
    natsPrefix,
    schedulerId: readString(env, 'SCHEDULER_ID', `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`),
    ackWaitMs: readDurationMs(env, 'FAAS_ACK_WAIT', 30_000, 1_000, 3_600_000),
    defaultTimeoutSeconds: readInt(env, 'FAAS_DEFAULT_TIMEOUT', 300, 1, 86_400),
    maxAttempts: readInt(env, 'FAAS_MAX_ATTEMPTS', 3, 1, 20),
    maxAttemptsLimit: readInt(env, 'FAAS_MAX_ATTEMPTS_LIMIT', 10, 1, 20),
    retryBaseDelayMs: readDurationMs(env, 'FAAS_RETRY_BASE_DELAY', 1_000, 0, 3_600_000),
    retryMaxDelayMs: readDurationMs(env, 'FAAS_RETRY_MAX_DELAY', 60_000, 0, 86_400_000),
    heartbeatIntervalMs: readDurationMs(env, 'FAAS_HEARTBEAT_INTERVAL', 5_000, 100, 60_000),
    duplicateWindowMs: readDurationMs(env, 'FAAS_DUPLICATE_WINDOW', 120_000, 1_000, 86_400_000),
    logMaxAgeMs: readDurationMs(env, 'FAAS_LOG_MAX_AGE', 7 * 86_400_000, 60_000, 365 * 86_400_000),
    retentionMs: readDurationMs(env, 'FAAS_RETENTION', 7 * 86_400_000, 1_000, 3650 * 86_400_000),
    retentionSweepIntervalMs: readDurationMs(env, 'FAAS_RETENTION_SWEEP_INTERVAL', 3_600_000, 1_000, 86_400_000),
    shutdownGraceMs: readDurationMs(env, 'SCHEDULER_SHUTDOWN_GRACE', 10_000, 0, 600_000),
    drainGraceMs: readDurationMs(env, 'SCHEDULER_DRAIN_GRACE', 30_000, 0, 3_600_000),
    adoptionGraceMs: readDurationMs(env, 'FAAS_ADOPTION_GRACE', 15_000, 0, 600_000),
  };
}
