import { finalStates } from '../../common/job-states.js';
import type { SchedulerContext } from './context.js';
import { idempotencyHash } from './job-store.js';

/**
 * Deletes jobs that finished more than `retentionMs` ago: the record, its
 * index entries, idempotency key, input, results and log. Queued and running
 * jobs are never touched, whatever their age; a bucket-wide age limit would
 * expire those too. Safe to run on several replicas at once, because every
 * delete is idempotent. Returns how many jobs were deleted.
 */
export async function sweepFinishedJobs(context: SchedulerContext, retentionMs: number, nowMs = Date.now()): Promise<number> {
  const { store, nats, log, blobs } = context;
  let deleted = 0;
  for (const state of finalStates) {
    const entries = await store.listIds({ state, limit: Number.MAX_SAFE_INTEGER });
    for (const entry of entries) {
      const stored = await store.get(entry.jobId);
      if (stored && stored.job.state !== state) continue;
      const finishedMs = stored?.job.finishedAt?.getTime() ?? 0;
      if (stored && nowMs - finishedMs < retentionMs) continue;

      const job = stored?.job;
      // Every replica sweeps, so each drops what it keeps of the record in memory.
      await store.purge(entry.jobId);
      await store.dropStaleIndex(entry.owner, state, entry.jobId);
      if (job?.spec?.idempotencyKey) await nats.index.purge(`k.${idempotencyHash(job.owner, job.spec.idempotencyKey)}`);
      if (job && job.inputSizeBytes > 0) await nats.blobs.delete(`input/${job.id}`).catch(() => undefined);
      for (let attempt = 1; attempt <= (job?.attempt ?? 0); attempt++) await blobs.deleteResult(entry.jobId, attempt);
      await nats.jsm.streams.purge(nats.names.logStream, { filter: nats.names.logSubject(entry.jobId) });
      deleted++;
    }
  }
  if (deleted > 0) log.info({ deleted, retentionMs }, 'deleted finished jobs past their retention');
  return deleted;
}
