import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { Job, JobState } from '../../gen/faas/v1/job.js';
import { ErrorCode, FaasError } from '../../common/errors.js';
import { canTransition, isFinal, stateName } from '../../common/job-states.js';
import type { Logger } from '../../common/logger.js';
import { ActiveSlots, type ActiveEntry } from './active-slots.js';
import { isCasConflict } from './cas.js';
import { newestFirst, type FinishedIndex, type IndexEntry } from './finished-index.js';
import type { KvKeyLister } from './kv-keys.js';
import type { RecentRecords } from './recent-records.js';

const maxCasRetries = 50;


/** How long a reserved slot counts while its job record is not written yet. */
const reservationGraceMs = 60_000;

export interface StoredJob {
  job: Job;
  revision: number;
}

/** Returns `next` to write it, or `undefined` to leave the job unchanged. `revision` is the current record's. */
export type JobMutation = (current: Job, revision: number) => Job | undefined;


/**
 * Job records in a KV bucket, one key per job id, changed only by
 * compare-and-set on the entry's revision so that concurrent scheduler
 * replicas cannot make an illegal transition.
 *
 * A second bucket contains what List reads: each owner's active jobs
 * (`a.<owner>`, see ActiveSlots) and an index entry per finished job (see
 * FinishedIndex). It also contains the idempotency keys
 * (`k.<hash>` holding a job id). Queued and running jobs get no index entry,
 * so starting a job writes only its record.
 */
export class JobStore {
  private readonly activeSlots: ActiveSlots;
  readonly finished: FinishedIndex;
  /** Called after each stored change of a job, with the record before and after it. */
  private readonly onChange: (before: Job, after: Job) => void;
  /** Receives each version this store writes, for Watch streams on this replica. */
  private readonly recent?: RecentRecords;
  /** Removes a record without leaving a delete marker (see `kvEraser`). */
  private readonly eraseRecord: (jobId: string) => Promise<void>;

  constructor(
    private readonly jobs: KV,
    private readonly index: KV,
    private readonly log: Logger,
    options: {
      finished: FinishedIndex;
      onChange?: (before: Job, after: Job) => void;
      recent?: RecentRecords;
      /** Default: a KV purge, which leaves a marker. */
      eraseRecord?: (jobId: string) => Promise<void>;
      /** Lists keys of the index bucket (see `kvKeyLister`); default: a KV key listing. */
      listIndexKeys?: KvKeyLister;
    },
  ) {
    this.activeSlots = new ActiveSlots(index, (active) => this.stillActive(active), options.listIndexKeys);
    this.finished = options.finished;
    this.onChange = options.onChange ?? (() => undefined);
    this.recent = options.recent;
    this.eraseRecord = options.eraseRecord ?? ((jobId) => jobs.purge(jobId));
  }

  async get(jobId: string): Promise<StoredJob | undefined> {
    const entry = await this.jobs.get(jobId);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { job: Job.decode(entry.value), revision: entry.revision };
  }

  /**
   * Returns the owner of a job whose record this replica wrote within the
   * last `withinMs`, without a read. The owner never changes, so any version
   * contains it. Retention deletes a record only `retentionMs` after its job
   * finished, so a `withinMs` well below that means the record still exists.
   */
  rememberedOwner(jobId: string, withinMs: number): string | undefined {
    const data = this.recent?.latestSince(jobId, Date.now() - withinMs);
    return data === undefined ? undefined : Job.decode(data).owner;
  }

  /** Deletes a job's record, and the versions of it that this replica keeps in memory. */
  async purge(jobId: string): Promise<void> {
    this.recent?.forget(jobId);
    await this.eraseRecord(jobId);
  }

  /** Stores a new job's record. List finds the job in the owner's active list, where Submit reserved its slot. */
  async create(job: Job): Promise<StoredJob> {
    const data = Job.encode(job).finish();
    let revision: number;
    try {
      // Expects no earlier message on the key, so the version before this one is known: none.
      revision = await this.jobs.put(job.id, data, { previousSeq: 0 });
    } catch {
      // A deleted record of the same id, or a concurrent create. KV's create distinguishes the two and reports the failure.
      return { job, revision: await this.jobs.create(job.id, data) };
    }
    this.recent?.remember(job.id, revision, 0, data);
    return { job, revision };
  }

  /**
   * Applies `mutate` to the current record and writes the result if the
   * transition is legal, retrying from a fresh read when another writer got
   * there first. Throws FAILED_PRECONDITION for an illegal transition.
   */
  async transition(jobId: string, mutate: JobMutation, known?: StoredJob): Promise<StoredJob> {
    for (let attempt = 0; attempt < maxCasRetries; attempt++) {
      // A record the caller read lately saves the first read; a stale one
      // costs one failed write. Only a fresh read decides against a change.
      const guess = attempt === 0 && known !== undefined;
      const current = guess ? known : await this.get(jobId);
      if (!current) throw new FaasError(ErrorCode.NotFound, `job ${jobId} not found`);
      const mutated = mutate(Job.fromPartial(current.job), current.revision);
      if (guess && (!mutated || !canTransition(current.job.state, mutated.state))) continue;
      if (!mutated) return current;
      const next: Job = { ...mutated, updatedAt: new Date() };
      if (!canTransition(current.job.state, next.state)) {
        throw new FaasError(
          ErrorCode.FailedPrecondition,
          `job ${jobId} cannot go from ${stateName(current.job.state)} to ${stateName(next.state)}`,
        );
      }
      try {
        const data = Job.encode(next).finish();
        const revision = await this.jobs.update(jobId, data, current.revision);
        this.recent?.remember(jobId, revision, current.revision, data);
        this.onChange(current.job, next);
        if (isFinal(next.state)) await this.settleFinished(next);
        return { job: next, revision };
      } catch (error) {
        if (!isCasConflict(error)) throw error;
      }
    }
    throw new FaasError(ErrorCode.Unavailable, `job ${jobId} is changing too often; retry shortly`);
  }

  /**
   * Returns the job id stored for an idempotency key, or stores `jobId` for
   * it. `revision` is set when this call stored it.
   */
  async claimIdempotencyKey(owner: string, key: string, jobId: string): Promise<{ jobId: string; existing: boolean; revision?: number }> {
    const indexKey = `k.${idempotencyHash(owner, key)}`;
    try {
      const revision = await this.index.create(indexKey, new TextEncoder().encode(jobId));
      return { jobId, existing: false, revision };
    } catch (error) {
      if (!isCasConflict(error)) throw error;
    }
    const entry = await this.index.get(indexKey);
    if (!entry || entry.operation !== 'PUT') {
      throw new FaasError(ErrorCode.Unavailable, 'the idempotency key is being changed; retry shortly');
    }
    return { jobId: entry.string(), existing: true };
  }

  /** Takes back a claim of an idempotency key for a job that will not be stored, unless the key has changed since. */
  async dropIdempotencyKey(owner: string, key: string, revision: number): Promise<void> {
    try {
      await this.index.delete(`k.${idempotencyHash(owner, key)}`, { previousSeq: revision });
    } catch (error) {
      if (!isCasConflict(error)) throw error;
    }
  }

  /**
   * Lists the jobs of `owner` (every owner when undefined) that may be in
   * `state` (every state when undefined), newest first, older than
   * `before`. Callers read each record for its real state. Finished jobs
   * come from the index, which reads only the newest slices of time that
   * fill the page. Queued and running jobs come from the owners' active
   * lists, which the job limit keeps short.
   */
  async listIds(options: { owner?: string; state?: JobState; before?: string; limit: number }): Promise<IndexEntry[]> {
    const older = (jobId: string) => options.before === undefined || jobId < options.before;
    const active = options.state === undefined || !isFinal(options.state) ? this.activeSlots.list(options.owner) : [];
    const [activeEntries, finished] = await Promise.all([active, this.finished.list(options)]);
    const entries: IndexEntry[] = [...activeEntries.filter((entry) => older(entry.jobId)), ...finished];
    entries.sort(newestFirst);
    // A job that just finished is in both lists until its slot is released, so the index entry replaces the active one.
    const unique: IndexEntry[] = [];
    for (const entry of entries) {
      const previous = unique.at(-1);
      if (previous?.jobId !== entry.jobId) unique.push(entry);
      else if (previous.state === undefined) unique[unique.length - 1] = entry;
    }
    return unique.slice(0, options.limit);
  }

  /**
   * Counts `jobId` against its owner's limit of queued and running jobs, or
   * throws RESOURCE_EXHAUSTED. The owner's list of active jobs is one KV
   * entry changed by compare-and-set, so replicas cannot both take the last
   * slot. Entries of finished jobs are dropped when the list is full, so a
   * crash that skipped a release cannot leak a slot.
   */
  async reserveActiveSlot(owner: string, jobId: string, limit: number): Promise<void> {
    await this.activeSlots.reserve(owner, jobId, limit);
  }

  /** Frees the slot of a job that finished or was never created. */
  async releaseActiveSlot(owner: string, jobId: string): Promise<void> {
    await this.activeSlots.release(owner, jobId);
  }

  /**
   * Returns the entries whose job is queued or running, or not stored yet.
   * Before it drops the entry of a finished job, it writes the job's index
   * entry: a finished job stays in the list only when that write failed,
   * and List finds finished jobs only in the index.
   */
  private async stillActive(active: ActiveEntry[]): Promise<ActiveEntry[]> {
    const kept: ActiveEntry[] = [];
    for (const item of active) {
      const stored = await this.get(item.id);
      if (stored && isFinal(stored.job.state)) {
        await this.indexFinished(stored.job);
        continue;
      }
      const pending = !stored && Date.now() - item.at < reservationGraceMs;
      if (pending || stored) kept.push(item);
    }
    return kept;
  }

  /** Removes an index entry that no longer matches its job (see List). */
  async dropStaleIndex(entry: IndexEntry): Promise<void> {
    await this.finished.remove(entry);
  }

  /** Moves a finished job from its owner's active list to the index. Writing the index entry first keeps the job visible to List throughout. */
  private async settleFinished(job: Job): Promise<void> {
    try {
      await this.indexFinished(job);
    } catch (error) {
      // Keeping the slot keeps the job in List. When the owner reaches the limit, the slot goes and the entry is written then.
      this.log.warn({ err: error, jobId: job.id }, 'failed to add a finished job to the owner index; its slot stays taken until the owner reaches the limit');
      return;
    }
    await this.releaseActiveSlot(job.owner, job.id).catch((error: unknown) => {
      this.log.warn({ err: error, jobId: job.id }, 'failed to release the owner slot; the next full check frees it');
    });
  }

  /** Writes the index entry through which List finds a finished job. */
  private async indexFinished(job: Job): Promise<void> {
    await this.finished.add(job);
  }
}

/** Hashes owner and key together, so equal keys of two owners never collide. */
export function idempotencyHash(owner: string, key: string): string {
  return createHash('sha256').update(owner).update('\u0000').update(key).digest('hex');
}
