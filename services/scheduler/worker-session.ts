import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { ConnectRequest, ConnectResponse, JobOutcome, JobUpdate } from '../../gen/faas/worker/v1/worker_service.js';
import type { LogWriter } from './log-store.js';
import type { StoredJob } from './job-store.js';
import type { QueueMessage } from './queue-lease.js';

/** A job this replica handed to a worker and has not yet settled. */
export interface HeldJob {
  jobId: string;
  attempt: number;
  /** The queue message, kept unacknowledged until the outcome is stored. */
  message: QueueMessage;
  /** Extends the message's ack deadline while the job runs. */
  extendTimer: NodeJS.Timeout;
  /** Record as this replica last read or wrote it, so that the next change can skip a read. A stale one costs a failed write. */
  record?: StoredJob;
  /** Set once the outcome arrived: the worker's slot is free while the outcome is stored. */
  settling?: boolean;
  /** Set once the worker accepted the job and the record is RUNNING. */
  log?: LogWriter;
  /** The update or outcome of this attempt that arrived last, applied or not. */
  latestReport?: JobUpdate | JobOutcome;
  /** Reason of a Cancel call that arrived while the job ran, stored with its outcome. */
  cancelReason?: string;
  /** Heartbeats in a row that did not list this accepted job. */
  missedHeartbeats?: number;
}

/**
 * Starts extending the ack deadline of a held job's message, every third of
 * `ackWaitMs`. The timer reads `heldJob.message` each time, so a redelivery
 * that replaces the handle keeps being extended.
 */
export function extendWhileHeld(job: Omit<HeldJob, 'extendTimer'>, ackWaitMs: number): HeldJob {
  const heldJob = job as HeldJob;
  heldJob.extendTimer = setInterval(() => heldJob.message.working(), Math.max(500, ackWaitMs / 3));
  return heldJob;
}

/** One connected worker: its stream, its slots and the jobs it holds. */
export class WorkerSession {
  readonly jobs = new Map<string, HeldJob>();
  lastSeenMs = Date.now();
  /** Set while the scheduler stops reading the stream because too many reports wait, as when NATS is slow or away. */
  readingPaused = false;
  closed = false;
  /** The worker finishes its jobs but takes no new ones. */
  draining = false;
  /** Settles once the jobs the worker kept running from an earlier stream have been taken over or refused. */
  joined: Promise<void> = Promise.resolve();
  /** Set when the stream ends; settles once the worker's jobs have been handled as those of a departed worker. */
  departed?: Promise<void>;
  /** Set when a new stream of the worker replaced this one: the worker is back, draining or not. */
  replaced = false;

  constructor(
    readonly workerId: string,
    readonly slots: number,
    readonly hostname: string,
    private readonly call: ServerDuplexStream<ConnectRequest, ConnectResponse>,
    /** Ends the session, saying why in the log: the scheduler stops reading it and hands its jobs on. */
    readonly end: (reason: string) => void,
  ) {}

  get freeSlots(): number {
    return this.closed || this.draining ? 0 : this.slots - this.busySlots;
  }

  /** Slots running a job; a job whose outcome is being stored no longer takes one. */
  get busySlots(): number {
    let busy = 0;
    for (const heldJob of this.jobs.values()) if (!heldJob.settling) busy++;
    return busy;
  }

  send(message: ConnectResponse): void {
    if (!this.closed) this.call.write(message);
  }
}
