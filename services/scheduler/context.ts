import type { Logger } from '../../common/logger.js';
import type { SchedulerConfig } from './config.js';
import type { JetStreamHandles } from './jetstream.js';
import type { JobStore } from './job-store.js';
import type { JobBlobs } from './blobs.js';
import type { NatsLink } from './nats-link.js';
import type { SchedulerMetrics } from './metrics.js';
import type { WorkerPool } from './pool.js';
import type { RecordFeed } from './record-feed.js';

/** Services and state that the parts of one scheduler replica share. */
export interface SchedulerContext {
  config: SchedulerConfig;
  log: Logger;
  nats: JetStreamHandles;
  /** Whether the NATS connection is up. */
  natsLink: NatsLink;
  /** Aborts when the replica starts to stop. */
  stopping: AbortSignal;
  store: JobStore;
  blobs: JobBlobs;
  pool: WorkerPool;
  metrics: SchedulerMetrics;
  /** Follows job records for Watch; absent when the job bucket does not republish. */
  records?: RecordFeed;
}
