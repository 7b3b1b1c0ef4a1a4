import { createHash } from 'node:crypto';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { Job, JobState } from '../../gen/faas/v1/job.js';
import { ErrorCode, FaasError } from '../../common/errors.js';
import { canTransition, isFinal, parseStateName, stateName } from '../../common/job-states.js';
import type { Logger } from '../../common/logger.js';

/** JetStream's "wrong last sequence": a compare-and-set lost to another writer. */
const wrongLastSequence = 10071;
const maxCasRetries = 50;

/** A job counted against its owner's limit of active jobs. */
interface ActiveEntry {
  id: string;
  /** When the slot was reserved, in ms since the epoch. */
  at: number;
}

/** How long a reserved slot counts while its job record is not written yet. */
const reservationGraceMs = 60_000;

/** One owner index entry, as List reads it. */
export interface IndexEntry {
  jobId: string;
  owner: string;
  state: JobState;
}

export interface StoredJob {
  job: Job;
  revision: number;
}

/** Returns `next` to write it, or `undefined` to leave the job unchanged. */
export type JobMutation = (current: Job) => Job | undefined;

/** Tells whether a KV create or update failed because the revision moved on. */
export function isCasConflict(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === wrongLastSequence;
}

/**
 * Job records in a KV bucket, one key per job id, changed only by
 * compare-and-set on the entry's revision so that concurrent scheduler
 * replicas cannot make an illegal transition.
 *
 * A second bucket contains the owner index (`o.<owner>.<state>.<id>`) that List
 * reads, and the idempotency keys (`k.<hash>` holding a job id).
 */
export class JobStore {
  constructor(
    private readonly jobs: KV,
    private readonly index: KV,
    private readonly log: Logger,
    /** Called after each stored change of a job, with the record before and after it. */
    private readonly onChange: (before: Job, after: Job) => void = () => undefined,
  ) {}

  async get(jobId: string): Promise<StoredJob | undefined> {
    const entry = await this.jobs.get(jobId);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { job: Job.decode(entry.value), revision: entry.revision };
  }

  async create(job: Job): Promise<StoredJob> {
    const revision = await this.jobs.create(job.id, Job.encode(job).finish());
    await this.putIndex(job);
    return { job, revision };
  }

  /**
   * Applies `mutate` to the current record and writes the result if the
   * transition is legal, retrying from a fresh read when another writer got
   * there first. Throws FAILED_PRECONDITION for an illegal transition.
   */
  async transition(jobId: string, mutate: JobMutation): Promise<StoredJob> {
    for (let attempt = 0; attempt < maxCasRetries; attempt++) {
      const current = await this.get(jobId);
      if (!current) throw new FaasError(ErrorCode.NotFound, `job ${jobId} not found`);
      const next = mutate(Job.fromPartial(current.job));
      if (!next) return current;
      if (!canTransition(current.job.state, next.state)) {
        throw new FaasError(
          ErrorCode.FailedPrecondition,
          `job ${jobId} cannot go from ${stateName(current.job.state)} to ${stateName(next.state)}`,
        );
      }
      try {
        const revision = await this.jobs.update(jobId, Job.encode(next).finish(), current.revision);
        if (next.state !== current.job.state) await this.moveIndex(current.job, next);
        this.onChange(current.job, next);
        if (isFinal(next.state)) {
          await this.releaseActiveSlot(next.owner, next.id).catch((error: unknown) => {
            this.log.warn({ err: error, jobId }, 'failed to release the owner slot; the next full check frees it');
          });
        }
        return { job: next, revision };
      } catch (error) {
        if (!isCasConflict(error)) throw error;
      }
    }
    throw new FaasError(ErrorCode.Unavailable, `job ${jobId} is changing too often; retry shortly`);
  }

  /** Returns the job id stored for an idempotency key, or stores `jobId` for it. */
  async claimIdempotencyKey(owner: string, key: string, jobId: string): Promise<{ jobId: string; existing: boolean }> {
    const indexKey = `k.${idempotencyHash(owner, key)}`;
    try {
      await this.index.create(indexKey, new TextEncoder().encode(jobId));
      return { jobId, existing: false };
    } catch (error) {
      if (!isCasConflict(error)) throw error;
    }
    const entry = await this.index.get(indexKey);
    if (!entry || entry.operation !== 'PUT') {
      throw new FaasError(ErrorCode.Unavailable, 'the idempotency key is being changed; retry shortly');
    }
    return { jobId: entry.string(), existing: true };
  }

  /**
   * Lists job ids of `owner` (every owner when undefined) in `state`
   * (every state when undefined), newest first, older than `before`.
   * The server filters index keys by subject, so the cost grows with the
   * owner's matching jobs, not with all jobs.
   */
  async listIds(options: { owner?: string; state?: JobState; before?: string; limit: number }): Promise<IndexEntry[]> {
    const owner = options.owner === undefined ? '*' : ownerToken(options.owner);
    const state = options.state === undefined ? '*' : stateName(options.state);
    const keys = await this.index.keys(`o.${owner}.${state}.*`);
    const entries: IndexEntry[] = [];
    for await (const key of keys) {
      const [, token, name, jobId] = key.split('.');
      const entryState = parseStateName(name);
      if (entryState === undefined) continue;
      if (options.before === undefined || jobId < options.before) {
        entries.push({ jobId, owner: Buffer.from(token, 'base64url').toString(), state: entryState });
      }
    }
    // Newest first: ids sort by creation time.
    entries.sort((a, b) => b.jobId.localeCompare(a.jobId));
    return entries.slice(0, options.limit);
  }

  /**
   * Counts `jobId` against its owner's limit of queued and running jobs, or
   * throws RESOURCE_EXHAUSTED. The owner's list of active jobs is one KV
   * entry changed by compare-and-set, so replicas cannot both take the last
   * slot. Entries of finished jobs are dropped when the list is full, so a
   * crash that skipped a release cannot leak a slot.
   */
  async reserveActiveSlot(owner: string, jobId: string, limit: number): Promise<void> {
    const key = activeKey(owner);
    for (let attempt = 0; attempt < maxCasRetries; attempt++) {
      const entry = await this.index.get(key);
      const present = entry !== null && entry.operation === 'PUT';
      let active: ActiveEntry[] = present ? entry.json<ActiveEntry[]>() : [];
      if (active.length >= limit) active = await this.stillActive(active);
      if (active.length >= limit) {
        throw new FaasError(
          ErrorCode.ResourceExhausted,
          `you have ${active.length} queued or running jobs and the limit is ${limit}; wait for one to finish or cancel one`,
        );
      }
      const next = new TextEncoder().encode(JSON.stringify([...active, { id: jobId, at: Date.now() }]));
      try {
        if (present) await this.index.update(key, next, entry.revision);
        else await this.index.create(key, next);
        return;
      } catch (error) {
        if (!isCasConflict(error)) throw error;
      }
    }
    throw new FaasError(ErrorCode.Unavailable, 'too many submits at once for this owner; retry shortly');
  }

  /** Frees the slot of a job that finished or was never created. Failures only delay the release. */
  async releaseActiveSlot(owner: string, jobId: string): Promise<void> {
    const key = activeKey(owner);
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.index.get(key);
      if (!entry || entry.operation !== 'PUT') return;
      const active = entry.json<ActiveEntry[]>();
      const next = active.filter((item) => item.id !== jobId);
      if (next.length === active.length) return;
      try {
        await this.index.update(key, new TextEncoder().encode(JSON.stringify(next)), entry.revision);
        return;
      } catch (error) {
        if (!isCasConflict(error)) throw error;
      }
    }
  }

  private async stillActive(active: ActiveEntry[]): Promise<ActiveEntry[]> {
    const kept: ActiveEntry[] = [];
    for (const item of active) {
      const stored = await this.get(item.id);
      const pending = !stored && Date.now() - item.at < reservationGraceMs;
      if (pending || (stored && !isFinal(stored.job.state))) kept.push(item);
    }
    return kept;
  }

  /** Removes an index entry that no longer matches its job (see List). */
  async dropStaleIndex(owner: string, state: JobState, jobId: string): Promise<void> {
    await this.index.purge(indexKey(owner, state, jobId));
  }

  private async putIndex(job: Job): Promise<void> {
    await this.index.put(indexKey(job.owner, job.state, job.id), new Uint8Array());
  }

  // NOTE: the new entry is written before the old one is purged, so a crash
  // in between leaves a stale entry; List checks each record's real state and
  // drops such entries when it meets them.
  private async moveIndex(previous: Job, next: Job): Promise<void> {
    try {
      await this.putIndex(next);
      await this.index.purge(indexKey(previous.owner, previous.state, previous.id));
    } catch (error) {
      this.log.warn({ err: error, jobId: next.id }, 'failed to update the job index; List repairs it later');
    }
  }
}

/** Encodes an owner as one KV key token: base64url has no "." or "*". */
function ownerToken(owner: string): string {
  return Buffer.from(owner).toString('base64url');
}

function activeKey(owner: string): string {
  return `a.${ownerToken(owner)}`;
}

function indexKey(owner: string, state: JobState, jobId: string): string {
  return `o.${ownerToken(owner)}.${stateName(state)}.${jobId}`;
}

/** Hashes owner and key together, so equal keys of two owners never collide. */
export function idempotencyHash(owner: string, key: string): string {
  return createHash('sha256').update(owner).update('\u0000').update(key).digest('hex');
}
