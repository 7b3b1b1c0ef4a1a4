import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Job } from '../../gen/faas/v1/job.js';
import { isFinal } from '../../common/job-states.js';
import type { Logger } from '../../common/logger.js';
import type { NatsNames } from '../../common/nats-names.js';
import type { RecentRecords } from './recent-records.js';

/** One stored version of a job record, from the job bucket's stream. */
interface StoredVersion {
  seq: number;
  header?: MsgHdrs;
  data: Uint8Array;
}

export interface FollowOptions {
  jobId: string;
  /** Receives each stored version of the record in order; resolves when the stream can take more. */
  send: (job: Job) => Promise<void>;
  signal: AbortSignal;
  /** Awaited before the first send; a rejection ends the follow with its error (an ownership check, say). */
  ready?: Promise<unknown>;
}

/**
 * Follows job records without a JetStream consumer per follower. The job
 * bucket republishes every version it stores to `<prefix>.records.<jobId>`,
 * with its stream sequence and the sequence of the version before it.
 *
 * A follower subscribes there first. It then reads the versions stored
 * before it started with direct gets, each the next message on the job's
 * key, and after that sends each republished version. When a version is
 * missing (after a reconnect, or when the one before a message was never
 * sent), it reads the stored versions again. Setting up costs one direct get
 * per stored version instead of a new consumer, and none for the versions
 * that this replica wrote lately (see RecentRecords).
 */
export class RecordFeed {
  private readonly resyncs = new Set<() => void>();
  private readonly streamName: string;
  private readonly keyPrefix: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly names: NatsNames,
    private readonly log: Logger,
    /** Versions this replica wrote, read before the stream. */
    private readonly recent?: RecentRecords,
  ) {
    this.streamName = `KV_${names.jobsBucket}`;
    this.keyPrefix = `$KV.${names.jobsBucket}.`;
  }

  /** Watches the connection: messages published while it was down are lost, so every follower reads again after a reconnect. */
  start(): void {
    void (async () => {
      for await (const status of this.nc.status()) {
        if (status.type !== 'reconnect') continue;
        for (const resync of this.resyncs) resync();
      }
    })().catch((error: unknown) => this.log.warn({ err: error }, 'stopped following the NATS connection status for Watch streams'));
  }

  /**
   * Sends every stored version of the job's record, oldest first, then each
   * new one, and resolves after a final state, after the record is deleted,
   * or when `signal` aborts. Sends nothing and resolves at once when the job
   * has no record; `ready` reports that case to the caller.
   */
  async follow(options: FollowOptions): Promise<void> {
    const { jobId, signal } = options;
    if (signal.aborted) return;
    let next = 1;
    let firstSeq: number | undefined;
    let ended = false;
    let failure: unknown;
    let tail = Promise.resolve();
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));

    /** Sends one version; marks the follow ended after a final state or a deletion. */
    const deliver = async (version: StoredVersion) => {
      next = version.seq + 1;
      const operation = version.header?.get('KV-Operation');
      if (operation === 'DEL' || operation === 'PURGE') {
        ended = true;
        return;
      }
      const job = Job.decode(version.data);
      await options.ready;
      await options.send(job);
      if (isFinal(job.state)) ended = true;
    };
    /** Reads and sends the versions stored from sequence `next` on. */
    const readStored = async () => {
      while (!ended && !signal.aborted) {
        const version =
          this.recent?.firstFrom(jobId, next) ?? (await this.jsm.direct.getMessage(this.streamName, { seq: next, next_by_subj: this.keyPrefix + jobId }));
        if (!version) return;
        firstSeq ??= version.seq;
        await deliver(version);
      }
    };
    /** Runs one step after the ones before it; the first failure or the end stops the follow. */
    const step = (work: () => Promise<void>) => {
      tail = tail.then(async () => {
        if (ended || failure !== undefined || signal.aborted) return;
        try {
          await work();
        } catch (error) {
          failure = error;
        }
        if (ended || failure !== undefined) finish();
      });
    };

    const subscription: Subscription = this.nc.subscribe(this.names.recordSubject(jobId), {
      callback: (error, message) => {
        if (error) {
          failure ??= error;
          finish();
          return;
        }
        step(async () => {
          const seq = Number(message.headers?.get('Nats-Sequence'));
          if (!(seq >= next)) return;
          const previous = Number(message.headers?.get('Nats-Last-Sequence'));
          // A version before this one that was never sent: read the stored ones instead.
          if (firstSeq === undefined || !(previous < next)) await readStored();
          else await deliver({ seq, header: message.headers, data: message.data });
        });
      },
    });
    const resync = () => step(readStored);
    const stop = () => finish();
    this.resyncs.add(resync);
    signal.addEventListener('abort', stop, { once: true });
    try {
      // The subscription is in place before the first read, so no version falls between the two.
      step(async () => {
        await readStored();
        // No record at all: the caller's own check reports it.
        if (firstSeq === undefined) ended = true;
      });
      await done;
      // After an abort the stream is gone, and a send in progress may never resolve.
      if (signal.aborted) return;
      await tail;
      if (failure !== undefined) throw failure;
    } finally {
      signal.removeEventListener('abort', stop);
      this.resyncs.delete(resync);
      subscription.unsubscribe();
    }
  }
}
