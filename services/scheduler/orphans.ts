import { JobState, type Job } from '../../gen/faas/v1/job.js';
import type { SchedulerContext } from './context.js';

/** How long a job must have been queued, never started, before it counts as orphaned. */
export const orphanAgeMs = 30_000;

/** State that one sweep passes to the next sweep of the same replica. */
export interface OrphanSweepMemo {
  /** Last sequence of the job bucket when a sweep found no queued or running job at all. */
  noActiveJobsAtSeq?: number;
}

/**
 * Publishes the queue message again for queued jobs that have none. A
 * record can outlive its message, because the two live in different streams.
 * An OS crash can lose writes NATS acknowledged but had not flushed (see
 * Durability in docs/architecture.md). A Submit without an idempotency key
 * can store the record and then fail to publish.
 *
 * It acts only when the consumer has no undelivered message, so none of the
 * queued jobs can still be waiting in line, and only on jobs that never
 * started and are older than `orphanAgeMs`. Should the message exist after
 * all (delivered and waiting for redelivery), the job has two, and the
 * dispatcher settles the second once the job has moved on. Returns how many
 * jobs were queued again.
 *
 * Listing the active jobs leaves two short-lived consumers on the index
 * bucket. So with `memo`, a sweep is skipped while the job bucket has not
 * changed since a sweep that found no queued or running job, and an idle
 * platform leaves none.
 */
export async function requeueOrphans(
  context: SchedulerContext,
  publish: (job: Job) => Promise<void>,
  nowMs = Date.now(),
  memo: OrphanSweepMemo = {},
): Promise<number> {
  const { nats, store, pool, log } = context;
  const info = await nats.jsm.consumers.info(nats.names.jobStream, nats.names.dispatchConsumer);
  if (info.num_pending > 0) return 0;
  const bucketSeq = (await nats.jsm.streams.info(`KV_${nats.names.jobsBucket}`)).state.last_seq;
  if (memo.noActiveJobsAtSeq === bucketSeq) return 0;
  // Besides queued jobs, the list contains running ones, which the loop skips.
  const candidates = await store.listIds({ state: JobState.JOB_STATE_QUEUED, limit: Number.MAX_SAFE_INTEGER });
  memo.noActiveJobsAtSeq = candidates.length === 0 ? bucketSeq : undefined;
  let requeued = 0;
  for (const entry of candidates) {
    const stored = await store.get(entry.jobId);
    const job = stored?.job;
    if (!job || job.state !== JobState.JOB_STATE_QUEUED || job.attempt > 0 || pool.holderOf(job.id)) continue;
    if (!job.createdAt || nowMs - job.createdAt.getTime() < orphanAgeMs) continue;
    await publish(job);
    requeued++;
    log.warn({ jobId: job.id, queuedForMs: nowMs - job.createdAt.getTime() }, 'queued a job again whose queue message was missing');
  }
  return requeued;
}
