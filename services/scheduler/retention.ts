import { forEachConcurrent } from '../../common/concurrency.js';
import type { SchedulerContext } from './context.js';
import { idempotencyHash } from './job-store.js';
import { kvEraser } from './kv-keys.js';

/** Jobs deleted at the same time. */
const sweepLanes = 8;

/**
 * Deletes jobs that finished more than `retentionMs` ago: the record, its
 * index entries, idempotency key, input, results and log. Queued and running
 * jobs are never touched, whatever their age; a bucket-wide age limit would
 * expire those too. Safe to run on several replicas at once, because every
 * delete is idempotent. Jobs are deleted `sweepLanes` at a time, and index
 * markers that cover nothing any more go last. Returns how many jobs were
 * deleted.
 */
export async function sweepFinishedJobs(context: SchedulerContext, retentionMs: number, nowMs = Date.now()): Promise<number> {
  const { store, nats, log, blobs } = context;
  const cutoffMs = nowMs - retentionMs;
  const eraseIndexKey = kvEraser(nats.jsm, nats.names.indexBucket);
  // A job created after the cutoff cannot have finished before it.
  const entries = await store.finished.createdBefore(cutoffMs);
  let deleted = 0;
  await forEachConcurrent(entries.length, sweepLanes, async (index) => {
    const entry = entries[index];
    const stored = await store.get(entry.jobId);
    if (stored && stored.job.state !== entry.state) return;
    const finishedMs = stored?.job.finishedAt?.getTime() ?? 0;
    if (stored && finishedMs > cutoffMs) return;

    const job = stored?.job;
    // Every replica sweeps, so each drops what it keeps of the record in memory.
    await store.purge(entry.jobId);
    await store.dropStaleIndex(entry);
    if (job?.spec?.idempotencyKey) await eraseIndexKey(`k.${idempotencyHash(job.owner, job.spec.idempotencyKey)}`);
    if (job && job.inputSizeBytes > 0) await nats.blobs.delete(`input/${job.id}`).catch(() => undefined);
    for (let attempt = 1; attempt <= (job?.attempt ?? 0); attempt++) await blobs.deleteResult(entry.jobId, attempt);
    await nats.jsm.streams.purge(nats.names.logStream, { filter: nats.names.logSubject(entry.jobId) });
    deleted++;
  });
  const markers = await store.finished.dropEmptyMarkers(cutoffMs);
  if (deleted > 0 || markers > 0) log.info({ deleted, markers, retentionMs }, 'deleted finished jobs past their retention');
  return deleted;
}
