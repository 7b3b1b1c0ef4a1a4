import type { KV } from '@nats-io/kv';
import { ErrorCode, FaasError } from '../../common/errors.js';
import { isCasConflict } from './cas.js';
import type { KvKeyLister } from './kv-keys.js';

/** A job counted against its owner's limit of active jobs. */
export interface ActiveEntry {
  id: string;
  /** When the slot was reserved, in ms since the epoch. */
  at: number;
}

interface Reservation {
  kind: 'reserve';
  jobId: string;
  limit: number;
  resolve(): void;
  reject(error: unknown): void;
}

interface Release {
  kind: 'release';
  jobId: string;
  resolve(): void;
  reject(error: unknown): void;
}

type Change = Reservation | Release;

const maxCasRetries = 50;
/** Owners whose entry this replica remembers as it last wrote it. */
const maxKnownOwners = 10_000;

/**
 * The active jobs of each owner, one JSON list per owner in a KV entry,
 * changed by compare-and-set so that replicas share one limit.
 *
 * Changes for one owner queue up while a write for that owner is in flight
 * and then go out together in one read and one write. Concurrent Submits of
 * one owner would otherwise race for the same entry, and all but one would
 * retry after each write.
 *
 * The replica remembers each entry as it last wrote it, and the next change
 * starts from there without a read. When another replica wrote in between,
 * the compare-and-set fails and the change starts again from a fresh read.
 */
export class ActiveSlots {
  private readonly queued = new Map<string, Change[]>();
  /** Entries as this replica last wrote them, by key. Past `maxKnownOwners`, the oldest go first. */
  private readonly known = new Map<string, { revision: number; active: ActiveEntry[] }>();

  constructor(
    private readonly index: KV,
    /** Drops entries whose job finished or whose reservation lapsed; called only at the limit. */
    private readonly stillActive: (active: ActiveEntry[]) => Promise<ActiveEntry[]>,
    /** Lists the owners' keys for `list()` of every owner; by default a KV key listing. */
    private readonly listKeys: KvKeyLister = async (filter) => {
      const keys: string[] = [];
      for await (const key of await index.keys(filter)) keys.push(key);
      return keys;
    },
  ) {}

  /** Counts `jobId` against `owner`'s limit, or throws RESOURCE_EXHAUSTED when the owner is at it. */
  reserve(owner: string, jobId: string, limit: number): Promise<void> {
    return this.enqueue(owner, (resolve, reject) => ({ kind: 'reserve', jobId, limit, resolve, reject }));
  }

  /** Frees the slot of `jobId`; a job without one is left alone. */
  release(owner: string, jobId: string): Promise<void> {
    return this.enqueue(owner, (resolve, reject) => ({ kind: 'release', jobId, resolve, reject }));
  }

  /**
   * Lists the jobs that hold a slot, of `owner` or of every owner when it is
   * undefined. Besides queued and running jobs, the list can name a job whose
   * record is not written yet or is already final.
   */
  async list(owner?: string): Promise<Array<{ owner: string; jobId: string }>> {
    const keys = owner === undefined ? await this.listKeys(`${keyPrefix}*`) : [slotsKey(owner)];
    const lists = await Promise.all(keys.map(async (key) => {
      const entry = await this.index.get(key);
      if (entry === null || entry.operation !== 'PUT') return [];
      const holder = ownerFromToken(key.slice(keyPrefix.length));
      return entry.json<ActiveEntry[]>().map((item) => ({ owner: holder, jobId: item.id }));
    }));
    return lists.flat();
  }

  private enqueue(owner: string, make: (resolve: () => void, reject: (error: unknown) => void) => Change): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiting = this.queued.get(owner);
      const change = make(resolve, reject);
      if (waiting) {
        // A write for this owner is running; the next one takes this change.
        waiting.push(change);
        return;
      }
      this.queued.set(owner, []);
      void this.write(owner, [change]);
    });
  }

  /** Writes `batch`, then whatever queued meanwhile, until the owner's queue is empty. */
  private async write(owner: string, batch: Change[]): Promise<void> {
    while (batch.length > 0) {
      try {
        const rejected = await this.apply(owner, batch);
        for (const change of batch) {
          const error = rejected.get(change);
          if (error) change.reject(error);
          else change.resolve();
        }
      } catch (error) {
        for (const change of batch) change.reject(error);
      }
      batch = this.queued.get(owner) ?? [];
      if (batch.length === 0) this.queued.delete(owner);
      else this.queued.set(owner, []);
    }
  }

  /** Applies the changes in one compare-and-set write; returns the reservations rejected at the limit. */
  private async apply(owner: string, batch: Change[]): Promise<Map<Change, FaasError>> {
    const key = slotsKey(owner);
    for (let attempt = 0; attempt < maxCasRetries; attempt++) {
      const known = this.known.get(key);
      this.known.delete(key);
      let present: boolean;
      let revision: number;
      let stored: ActiveEntry[];
      if (known) {
        ({ revision, active: stored } = known);
        present = true;
      } else {
        const entry = await this.index.get(key);
        present = entry !== null && entry.operation === 'PUT';
        revision = entry?.revision ?? 0;
        stored = present ? entry!.json<ActiveEntry[]>() : [];
      }
      const releases = new Set(batch.filter((change) => change.kind === 'release').map((change) => change.jobId));
      let active = stored.filter((item) => !releases.has(item.id));
      const rejected = new Map<Change, FaasError>();
      let pruned = false;
      for (const change of batch) {
        if (change.kind !== 'reserve' || active.some((item) => item.id === change.jobId)) continue;
        if (active.length >= change.limit && !pruned) {
          active = await this.stillActive(active);
          pruned = true;
        }
        if (active.length >= change.limit) {
          rejected.set(
            change,
            new FaasError(
              ErrorCode.ResourceExhausted,
              `you have ${active.length} queued or running jobs and the limit is ${change.limit}; wait for one to finish or cancel one`,
            ),
          );
          continue;
        }
        active.push({ id: change.jobId, at: Date.now() });
      }
      if (present && sameEntries(active, stored)) {
        this.remember(key, revision, stored);
        return rejected;
      }
      if (!present && active.length === 0) return rejected;
      const value = new TextEncoder().encode(JSON.stringify(active));
      try {
        const written = present ? await this.index.update(key, value, revision) : await this.index.create(key, value);
        this.remember(key, written, active);
        return rejected;
      } catch (error) {
        if (!isCasConflict(error)) throw error;
      }
    }
    throw new FaasError(ErrorCode.Unavailable, 'too many submits at once for this owner; retry shortly');
  }

  private remember(key: string, revision: number, active: ActiveEntry[]): void {
    this.known.set(key, { revision, active });
    if (this.known.size > maxKnownOwners) this.known.delete(this.known.keys().next().value!);
  }
}

/** Prefix of the owners' entries in the index bucket: `a.<owner in base64url>`. */
const keyPrefix = 'a.';

function slotsKey(owner: string): string {
  return `${keyPrefix}${ownerToken(owner)}`;
}

/** Encodes an owner as one KV key token: base64url has no "." or "*". */
export function ownerToken(owner: string): string {
  return Buffer.from(owner).toString('base64url');
}

/** Decodes an owner from its KV key token. */
export function ownerFromToken(token: string): string {
  return Buffer.from(token, 'base64url').toString();
}

function sameEntries(a: ActiveEntry[], b: ActiveEntry[]): boolean {
  return a.length === b.length && a.every((item, index) => item.id === b[index].id);
}
