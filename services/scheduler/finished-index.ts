import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Job, JobState } from '../../gen/faas/v1/job.js';
import { isFinal, parseStateName, stateName } from '../../common/job-states.js';
import { ownerFromToken, ownerToken } from './active-slots.js';
import { kvEraser, kvKeyLister, type KvEraser, type KvKeyLister } from './kv-keys.js';

/** A job that List may show: from the owner index, or from its owner's list of active jobs. */
export interface IndexEntry {
  jobId: string;
  owner: string;
  /** State named by the index key; undefined for a job from the active list, which is queued or running unless it just finished. */
  state?: JobState;
  /** The index key, for removing the entry; undefined for a job from the active list. */
  key?: string;
}

/**
 * A job id starts with its creation time in base32, most significant
 * character first. Its first 5 characters name a period of 2^25 ms (about
 * 9.3 hours), and the 6th a slice of 2^20 ms (about 17.5 minutes) in it.
 */
const periodChars = 5;
const sliceChars = 6;
const base32 = '0123456789abcdefghjkmnpqrstvwxyz';
/** Maximum estimated entries that a page lists in one request, once the slices it read suggest that few are left. */
const wholeListingMax = 2_000;
/** Markers that this replica remembers writing, at most. */
const maxKnownMarkers = 10_000;
const empty = new Uint8Array();

/** First and last millisecond of creation time that a prefix of a job id covers. */
export function idPrefixSpanMs(prefix: string): { startMs: number; endMs: number } {
  let value = 0;
  for (const char of prefix) value = value * 32 + base32.indexOf(char);
  const unit = 32 ** (10 - prefix.length);
  return { startMs: value * unit, endMs: (value + 1) * unit - 1 };
}

/** Returns the index key of a finished job. */
export function finishedEntryKey(owner: string, state: JobState, jobId: string): string {
  return `f.${ownerToken(owner)}.${jobId.slice(0, periodChars)}.${jobId.slice(periodChars, sliceChars)}.${stateName(state)}.${jobId}`;
}

/**
 * The index of finished jobs through which List pages, newest first, in
 * the KV bucket that also contains the active lists. A finished job has the
 * entry `f.<owner>.<period>.<slice>.<state>.<id>`, where period and slice
 * come from the creation time in its id. Each slice with entries has the
 * marker `s.<owner>.<period>.<slice>` for each owner of an entry, and
 * `g.<period>.<slice>` for all owners, which an admin's list and the
 * retention sweep read.
 *
 * Keys are read from the stream's subject counts, one request per listing,
 * about six times cheaper per key than a KV key listing, which also
 * creates a consumer for each call. Entries and markers are therefore
 * removed by purging their subjects, which leaves no delete marker behind
 * to be listed.
 *
 * A page reads the markers, then the newest slices one at a time until the
 * page is full, so its cost grows with the jobs of those slices, not with
 * all of the owner's jobs. Once the slices read suggest that the rest contains
 * few entries, it lists the rest at once instead.
 *
 * Entries `o.<owner>.<state>.<id>` of earlier versions are listed and
 * removed too, until retention has deleted them.
 */
export class FinishedIndex {
  /** Marker keys this replica wrote, with the end of the time they cover. */
  private readonly knownMarkers = new Map<string, number>();
  private readonly erase: KvEraser;
  private readonly keys: KvKeyLister;

  constructor(
    private readonly index: KV,
    jsm: JetStreamManager,
    bucket: string,
    /** How long finished jobs are kept; the sweep removes markers only of time older than that. */
    private readonly retentionMs: number,
  ) {
    this.erase = kvEraser(jsm, bucket);
    this.keys = kvKeyLister(jsm, bucket);
  }

  /**
   * Adds a finished job and the two markers of its slice, the owner's and
   * the one for all owners. The markers go first, so a crash in between
   * cannot leave an entry that no marker leads to. A replica that wrote a
   * marker skips it for the next jobs of the slice while the slice ended
   * less than half the retention ago. The sweep removes markers only of
   * slices older than the whole retention, and the other half leaves room
   * for clocks that differ between replicas. In an older slice the markers
   * are written again after the entry, because the sweep may have removed
   * them in between: it reads a marker before it lists the marker's slice
   * (see `dropEmptyMarkers`).
   */
  async add(job: Job, nowMs = Date.now()): Promise<void> {
    const period = job.id.slice(0, periodChars);
    const slice = job.id.slice(periodChars, sliceChars);
    const markers = [`s.${ownerToken(job.owner)}.${period}.${slice}`, `g.${period}.${slice}`];
    const endMs = idPrefixSpanMs(period + slice).endMs;
    const young = endMs > nowMs - this.retentionMs / 2;
    const unknown = young ? markers.filter((marker) => !this.knownMarkers.has(marker)) : markers;
    await Promise.all(unknown.map((marker) => this.index.put(marker, empty)));
    if (young) for (const marker of unknown) this.remember(marker, endMs, nowMs);
    await this.index.put(finishedEntryKey(job.owner, job.state, job.id), empty);
    if (!young) await Promise.all(markers.map((marker) => this.index.put(marker, empty)));
  }

  /**
   * Lists the finished jobs of `owner` (every owner when undefined) in
   * `state` (every state when undefined) created before `before`,
   * newest first: at least `limit` of them when there are that many, and
   * more when the last listing returned more.
   */
  async list(options: { owner?: string; state?: JobState; before?: string; limit: number }): Promise<IndexEntry[]> {
    const owner = options.owner === undefined ? '*' : ownerToken(options.owner);
    const state = options.state === undefined ? '*' : stateName(options.state);
    const { before } = options;
    const older = (jobId: string) => before === undefined || jobId < before;
    // Only earlier versions indexed queued and running jobs.
    const finished = options.state === undefined || isFinal(options.state);
    const markerFilter = options.owner === undefined ? 'g.*.*' : `s.${owner}.*.*`;
    const [found, markers] = await Promise.all([this.legacyEntries(owner, state, older), finished ? this.keys(markerFilter) : []]);
    const slices = distinctSlices(markers).filter((slice) => before === undefined || slice <= before.slice(0, sliceChars));
    let fromSlices = 0;
    let listed = 0;
    for (let read = 0; read < slices.length && fromSlices < options.limit; read++) {
      const slice = slices[read];
      // Entries per slice so far, times the slices left, estimates the entries of the rest.
      // The entries that `before` excludes count too: they are as dense.
      const rest = read === 0 ? Infinity : (listed / read) * (slices.length - read);
      const filter = rest <= wholeListingMax ? `f.${owner}.*.*.${state}.*` : `f.${owner}.${slice.slice(0, periodChars)}.${slice.slice(periodChars)}.${state}.*`;
      for (const entry of await this.entries(filter)) {
        if (entry.jobId.slice(0, sliceChars) > slice) continue;
        listed++;
        if (!older(entry.jobId)) continue;
        found.push(entry);
        fromSlices++;
      }
      if (rest <= wholeListingMax) break;
    }
    return found.sort(newestFirst);
  }

  /**
   * Lists every entry of a job created before `createdBeforeMs`, of all
   * owners: the jobs that may have finished longer ago than that. Entries
   * of earlier versions are all listed.
   */
  async createdBefore(createdBeforeMs: number): Promise<IndexEntry[]> {
    const found = await this.legacyEntries('*', '*', () => true);
    const periods = new Set(distinctSlices(await this.keys('g.*.*')).map((slice) => slice.slice(0, periodChars)));
    for (const period of periods) {
      if (idPrefixSpanMs(period).startMs >= createdBeforeMs) continue;
      for (const entry of await this.entries(`f.*.${period}.*.*.*`)) {
        if (idPrefixSpanMs(entry.jobId.slice(0, 10)).startMs < createdBeforeMs) found.push(entry);
      }
    }
    return found;
  }

  async remove(entry: IndexEntry): Promise<void> {
    if (entry.key !== undefined) await this.erase(entry.key);
  }

  /**
   * Removes the markers of slices that ended before `olderThanMs` and have
   * no entries left. Each marker's revision is read before its slice is
   * listed, and the purge removes only messages up to that revision. A job
   * added meanwhile writes its entry before it writes the marker again, so
   * either the listing finds the entry or the purge spares the new marker.
   * Returns how many markers it removed.
   */
  async dropEmptyMarkers(olderThanMs: number): Promise<number> {
    let dropped = 0;
    for (const key of [...(await this.keys('s.*.*.*')), ...(await this.keys('g.*.*'))]) {
      const [kind, ...tokens] = key.split('.');
      const owner = kind === 'g' ? '*' : tokens[0];
      const [period, slice] = tokens.slice(-2);
      if (idPrefixSpanMs(period + slice).endMs >= olderThanMs) continue;
      const marker = await this.index.get(key);
      if (!marker || marker.operation !== 'PUT') continue;
      if ((await this.keys(`f.${owner}.${period}.${slice}.*.*`)).length > 0) continue;
      await this.erase(key, marker.revision);
      this.knownMarkers.delete(key);
      dropped++;
    }
    return dropped;
  }

  private remember(marker: string, endMs: number, nowMs: number): void {
    if (this.knownMarkers.size >= maxKnownMarkers) {
      for (const [known, knownEndMs] of this.knownMarkers) {
        if (knownEndMs <= nowMs - this.retentionMs / 2) this.knownMarkers.delete(known);
      }
      if (this.knownMarkers.size >= maxKnownMarkers) this.knownMarkers.clear();
    }
    this.knownMarkers.set(marker, endMs);
  }

  private async entries(filter: string): Promise<IndexEntry[]> {
    const found: IndexEntry[] = [];
    for (const key of await this.keys(filter)) {
      const [, owner, , , name, jobId] = key.split('.');
      const state = parseStateName(name);
      if (state !== undefined) found.push({ jobId, owner: ownerFromToken(owner), state, key });
    }
    return found;
  }

  /**
   * Entries of earlier versions, which removed keys with KV purges: a
   * purged key is still listed, and List drops it when it finds no record.
   */
  private async legacyEntries(owner: string, state: string, older: (jobId: string) => boolean): Promise<IndexEntry[]> {
    const found: IndexEntry[] = [];
    for (const key of await this.keys(`o.${owner}.${state}.*`)) {
      const [, token, name, jobId] = key.split('.');
      const entryState = parseStateName(name);
      if (entryState !== undefined && older(jobId)) found.push({ jobId, owner: ownerFromToken(token), state: entryState, key });
    }
    return found;
  }
}

/** Returns the distinct `<period><slice>` prefixes of marker keys, which end in `.<period>.<slice>`, newest first. */
function distinctSlices(markers: string[]): string[] {
  return [...new Set(markers.map((key) => key.split('.').slice(-2).join('')))].sort().reverse();
}

/** Orders entries by job id, newest first: ids sort by creation time. */
export function newestFirst(a: IndexEntry, b: IndexEntry): number {
  if (a.jobId === b.jobId) return 0;
  return a.jobId < b.jobId ? 1 : -1;
}
