import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../common/logger.js';
import { CloneError, pinRepositoryAddress, tooLargeError, type CloneFailure } from './git-client.js';
import { CacheIndex, treeId, type Entry } from './repo-cache-index.js';
import {
  CacheLayout,
  claimCacheFolder,
  copyTree,
  entryBytes,
  isCompleteMirror,
  moveIntoPlace,
  policyFingerprint,
  recoverCache,
  repositoryKey,
  type CacheClaim,
  type StoredEntry,
} from './repo-cache-store.js';
import { createMirror, extractTree, fetchIntoMirror, localCommit, resolveRemoteRef, type FetchRequest } from './repo-mirror.js';

export interface RepoCacheOptions {
  /** Parent folder of the cache; each worker process uses its own numbered subfolder of it. */
  dir: string;
  /** Disk space of the mirrors and trees, in bytes. Past it, the least recently used entries that no job uses are evicted. */
  maxBytes: number;
  /** How long a ref lookup may serve jobs submitted before it started; 0 never reuses one. Default 0. */
  refReuseMs?: number;
  /** Settings the entries were fetched under. When they change, the cache starts empty, because a tree present is served without an address check. */
  accessPolicy: { allowHttp: boolean; allowedAddresses: string[] };
  log: Logger;
}

export interface CheckoutRequest extends FetchRequest {
  /** The job's cancellation. */
  signal: AbortSignal;
  /** When the job was submitted, in ms since the epoch. A lookup of the ref that started later serves the job too. */
  submittedAtMs?: number;
}

/** Result of a checkout into a job's folder. */
export interface Checkout {
  commitSha: string;
  /** True when the commit came over the network for this request. */
  fetched: boolean;
  /** The cached tree that the folder is an exact copy of, when a later checkout may reuse the copy (see `checkout`). */
  tree?: string;
}

/** Commit a branch or tag named when it was looked up. */
interface RefLookup {
  startedMs: number;
  commitSha: string;
}

/** Maximum number of ref lookups kept for reuse; past it the oldest is dropped. */
const maxRefLookups = 1024;

/** Use of one read-only tree; the tree is not evicted until `release`. */
export interface TreeLease {
  commitSha: string;
  /** Checkout of the commit, owned by root; jobs get a copy, never this folder. */
  treeDir: string;
  /** Disk space of the tree. */
  bytes: number;
  /** True when the commit came over the network for this request. */
  fetched: boolean;
  release(): void;
}

/** One fetch and extraction shared by the requests for the same repository, ref and policy that arrive while it runs. */
interface Flight {
  key: string;
  /** Requests waiting for it; when the last one leaves, the work is aborted. */
  members: number;
  /** Set when the tree is in place and the members' leases are counted; later requests start a new flight. */
  settled: boolean;
  controller: AbortController;
  promise: Promise<{ entry: Entry; commitSha: string; fetched: boolean }>;
}

interface Target {
  /** Repository key (see `repositoryKey`). */
  key: string;
  /** Ref to fetch, 'HEAD' for an empty one. */
  ref: string;
  /** The ref in lower case when it is a full commit id. */
  sha?: string;
  /** Key under which the ref's lookup is kept for reuse; unset for a commit id. */
  lookupKey?: string;
}

/** Failures that come from a limit or a cancellation rather than from the data in a mirror. */
const stopFailures = new Set<CloneFailure>(['cancelled', 'timed-out', 'too-large']);

const fullCommitId = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

/**
 * Repository cache of one worker: one bare mirror per repository URL, into
 * which each job's ref is fetched (depth 1), and one read-only tree per
 * commit, which each job copies into its own folder. A full commit id whose
 * tree is present needs no network at all. A branch, tag or HEAD can move, so
 * it is looked up on the remote again, and its commit is fetched when the
 * mirror does not have it. A lookup that started after a job was submitted
 * serves that job too, for up to `refReuseMs`: the job then runs the commit
 * its ref named at some moment after it was submitted.
 *
 * Git commands on one mirror run one at a time, and concurrent requests for
 * the same ref share one fetch. A job that arrives while such a fetch runs
 * takes its result. Different repositories are fetched in parallel.
 */
export class RepoCache {
  private readonly flights = new Map<string, Flight>();
  /** The latest lookup of each repository, ref and policy. */
  private readonly refLookups = new Map<string, RefLookup>();
  private readonly repoLocks = new Map<string, Promise<void>>();
  private readonly index: CacheIndex;
  private closed = false;

  private constructor(
    private readonly layout: CacheLayout,
    private readonly claim: CacheClaim,
    private readonly options: RepoCacheOptions,
    entries: StoredEntry[],
  ) {
    this.index = new CacheIndex(layout, options.maxBytes, options.log, entries);
  }

  /** Claims a cache folder under `options.dir`, removes what a crash left half written, and loads the index. */
  static async open(options: RepoCacheOptions): Promise<RepoCache> {
    const claim = await claimCacheFolder(options.dir);
    try {
      const layout = new CacheLayout(claim.dir);
      const { entries, discarded } = await recoverCache(layout, policyFingerprint(options.accessPolicy));
      const cache = new RepoCache(layout, claim, options, entries);
      if (discarded.length > 0) options.log.warn({ discarded }, 'removed incomplete or outdated repository cache entries');
      options.log.info({ dir: claim.dir, ...cache.usage(), maxBytes: options.maxBytes }, 'repository cache opened');
      cache.index.scheduleEviction();
      return cache;
    } catch (error) {
      await claim.release();
      throw error;
    }
  }

  /** Folder this cache uses. */
  get dir(): string {
    return this.layout.dir;
  }

  usage(): { bytes: number; mirrors: number; trees: number } {
    return this.index.usage();
  }

  /**
   * Makes `dir` a copy of the tree of the requested commit, whatever it
   * contained before, and returns the commit. `previousTree` names the tree
   * that `dir` is an unchanged copy of, as `Checkout.tree` returned it for an
   * earlier job. When that is the requested tree, nothing is copied. The copy
   * is the job's own: nothing a job does to it reaches the cache. Throws
   * CloneError.
   */
  async checkout(request: CheckoutRequest, dir: string, previousTree?: string): Promise<Checkout> {
    const startedMs = Date.now();
    const timeout = AbortSignal.timeout(request.timeoutMs);
    const lease = await this.acquire(request);
    const reused = previousTree === lease.treeDir;
    let reusable = reused;
    try {
      if (!reused) {
        await mkdir(dirname(dir), { recursive: true });
        reusable = await copyTree(lease.treeDir, dir, lease.bytes, AbortSignal.any([request.signal, timeout]));
      }
    } catch (error) {
      if (request.signal.aborted) throw new CloneError('cancelled', 'cloning was cancelled', { cause: error });
      if (timeout.aborted) throw new CloneError('timed-out', `cloning ${request.url} took longer than ${request.timeoutMs} ms`, { cause: error });
      throw error;
    } finally {
      lease.release();
    }
    const fields = { repository: request.url, ref: request.ref, commitSha: lease.commitSha, fetched: lease.fetched, reused };
    this.options.log.debug({ ...fields, ms: Date.now() - startedMs }, 'checked out a repository from the cache');
    return { commitSha: lease.commitSha, fetched: lease.fetched, tree: reusable ? lease.treeDir : undefined };
  }

  /** Returns a lease on the read-only tree of the requested commit, fetching and extracting it first when needed. Throws CloneError. */
  async acquire(request: CheckoutRequest): Promise<TreeLease> {
    if (this.closed) throw new Error('the repository cache is closed');
    let key: string;
    try {
      key = repositoryKey(request.url);
    } catch {
      // The address guard names what is wrong with the URL.
      await pinRepositoryAddress(request.url, request.addressPolicy, request.resolve);
      throw new CloneError('network', `repository URL "${request.url}" is invalid`);
    }
    const ref = request.ref === '' ? 'HEAD' : request.ref;
    const sha = fullCommitId.test(ref) ? ref.toLowerCase() : undefined;

    const flightKey = [key, sha ?? ref, request.allowHttp, [...request.addressPolicy.allow].sort().join(',')].join('\n');
    // A commit known without asking the remote: a full commit id, or a lookup of the ref that this job may reuse.
    let knownSha: string | undefined;
    if (sha === undefined) knownSha = this.reusableLookup(flightKey, request)?.commitSha;
    else if (transportAllowed(request)) knownSha = sha;
    const tree = knownSha === undefined ? undefined : this.index.trees.get(treeId(key, knownSha));
    if (tree) {
      // The tree may have been extracted for a job with a larger cap.
      if (tree.bytes > request.maxBytes) throw tooLargeError(request.maxBytes);
      tree.users++;
      this.index.touch(tree);
      return this.lease(tree, knownSha!, false);
    }

    const flight = this.flights.get(flightKey) ?? this.startFlight(flightKey, { key, ref: sha ?? ref, sha, lookupKey: sha ? undefined : flightKey }, request);
    return this.join(flight, request);
  }

  /** Resolves when the evictions and last-use times scheduled so far are done. */
  async idle(): Promise<void> {
    await this.index.idle();
  }

  /** Stops taking requests, waits for eviction in progress and gives the folder back. Leases still held stay valid on disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.index.saveUseTimes();
    await this.idle();
    await this.claim.release();
  }

  private startFlight(flightKey: string, target: Target, request: CheckoutRequest): Flight {
    const flight: Flight = { key: flightKey, members: 0, settled: false, controller: new AbortController(), promise: undefined! };
    flight.promise = this.withRepoLock(target.key, () => this.resolveTree(flight, target, request)).catch((error: unknown) => {
      if (this.flights.get(flightKey) === flight) this.flights.delete(flightKey);
      throw error;
    });
    // Members handle the failure; this only keeps a flight that everyone left from being reported as unhandled.
    flight.promise.catch(() => undefined);
    this.flights.set(flightKey, flight);
    return flight;
  }

  /** Waits for the flight as one of its members. Leaving (cancel or timeout) before it settles drops this member's lease. */
  private join(flight: Flight, request: CheckoutRequest): Promise<TreeLease> {
    const deadline = AbortSignal.timeout(request.timeoutMs);
    flight.members++;
    return new Promise((resolve, reject) => {
      let left = false;
      const stopListening = () => {
        request.signal.removeEventListener('abort', leave);
        deadline.removeEventListener('abort', leave);
      };
      const leave = () => {
        if (flight.settled || left) return;
        left = true;
        stopListening();
        flight.members--;
        if (flight.members === 0) {
          // No member waits for it any more, so a later request must start a flight of its own.
          if (this.flights.get(flight.key) === flight) this.flights.delete(flight.key);
          flight.controller.abort();
        }
        reject(
          request.signal.aborted
            ? new CloneError('cancelled', 'cloning was cancelled')
            : new CloneError('timed-out', `cloning ${request.url} took longer than ${request.timeoutMs} ms`),
        );
      };
      request.signal.addEventListener('abort', leave, { once: true });
      deadline.addEventListener('abort', leave, { once: true });
      if (request.signal.aborted) leave();
      flight.promise.then(
        (resolved) => {
          stopListening();
          if (left) return;
          const lease = this.lease(resolved.entry, resolved.commitSha, resolved.fetched);
          if (resolved.entry.bytes <= request.maxBytes) {
            resolve(lease);
            return;
          }
          lease.release();
          reject(tooLargeError(request.maxBytes));
        },
        (error: unknown) => {
          stopListening();
          if (!left) reject(error);
        },
      );
    });
  }

  /** Runs under the repository's lock: makes sure the mirror has the commit and its tree exists. A damaged mirror is replaced once. */
  private async resolveTree(flight: Flight, target: Target, request: FetchRequest) {
    try {
      return await this.resolveOnce(flight, target, request, true);
    } catch (error) {
      if (!(error instanceof MirrorDamage)) throw error;
      this.options.log.warn({ err: error.cause, repository: request.url }, 'discarding a repository mirror that could not check out a commit it has');
      const mirror = this.index.mirrors.get(target.key);
      if (mirror) await this.index.forget(mirror);
      return this.resolveOnce(flight, target, request, false);
    }
  }

  private async resolveOnce(flight: Flight, target: Target, request: FetchRequest, trustMirror: boolean) {
    const signal = flight.controller.signal;
    const mirror = await this.ensureMirror(target.key, request.url, signal);
    try {
      // A ref that is not a commit id costs one ref advertisement; its objects are fetched only when missing.
      const lookupStartedMs = Date.now();
      const objectId = target.sha ?? (await resolveRemoteRef(mirror.path, { ...request, ref: target.ref }, this.layout.home, signal));
      let commitSha: string | undefined;
      if (this.index.trees.has(treeId(target.key, objectId))) commitSha = objectId;
      else if (trustMirror) commitSha = await localCommit(mirror.path, objectId, this.layout.home, signal);
      const fetched = commitSha === undefined;
      commitSha ??= await this.fetch(mirror, request, objectId, target.ref, signal);

      if (target.lookupKey !== undefined) this.rememberLookup(target.lookupKey, { startedMs: lookupStartedMs, commitSha });
      const existing = this.index.trees.get(treeId(target.key, commitSha));
      if (existing) return this.settle(flight, existing, commitSha, fetched);
      try {
        return await this.extract(flight, target.key, mirror, commitSha, fetched, request, signal);
      } catch (error) {
        if (!fetched && error instanceof CloneError && !stopFailures.has(error.failure)) throw new MirrorDamage(error);
        throw error;
      }
    } finally {
      mirror.users--;
    }
  }

  /** Returns the repository's mirror, created when missing, with one more user counted, so eviction spares it. */
  private async ensureMirror(key: string, url: string, signal: AbortSignal): Promise<Entry> {
    const existing = this.index.mirrors.get(key);
    if (existing) {
      existing.users++;
      return existing;
    }
    const staging = this.layout.stagingPath('mirror');
    const path = this.layout.mirrorPath(key);
    try {
      await createMirror(staging, url, this.layout.home, signal);
      await moveIntoPlace(this.layout, staging, path);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    const now = Date.now();
    const entry: Entry = { kind: 'mirror', path, key, bytes: await entryBytes(path), lastUsedMs: now, diskUsedMs: now, users: 1 };
    this.index.mirrors.set(key, entry);
    return entry;
  }

  /**
   * Fetches object `objectId` into the mirror and returns its commit. When the
   * server does not let a client fetch that id, which protocol v0 servers do
   * once the ref has moved on, it fetches `ref` by name.
   */
  private async fetch(mirror: Entry, request: FetchRequest, objectId: string, ref: string, signal: AbortSignal): Promise<string> {
    try {
      try {
        return await fetchIntoMirror(mirror.path, { ...request, ref: objectId }, this.layout.home, signal);
      } catch (error) {
        if (objectId === ref || !(error instanceof CloneError) || error.failure !== 'ref-not-found') throw error;
        return await fetchIntoMirror(mirror.path, { ...request, ref }, this.layout.home, signal);
      }
    } catch (error) {
      // A killed git can leave a lock file that would fail every later fetch into this mirror, and a
      // fetch past the size cap leaves its pack behind.
      const oversized = error instanceof CloneError && error.failure === 'too-large';
      if (oversized || !(await isCompleteMirror(mirror.path))) await this.index.forget(mirror);
      throw error;
    } finally {
      if (this.index.mirrors.get(mirror.key) === mirror) {
        mirror.bytes = await entryBytes(mirror.path).catch(() => mirror.bytes);
        this.index.touch(mirror);
      }
    }
  }

  /** Checks the commit out into tmp/, renames it into trees/, and settles the flight in the same step. */
  private async extract(flight: Flight, key: string, mirror: Entry, commitSha: string, fetched: boolean, request: FetchRequest, signal: AbortSignal) {
    const staging = this.layout.stagingPath('tree');
    const path = this.layout.treePath(key, commitSha);
    let bytes: number;
    try {
      const limits = { maxBytes: request.maxBytes, timeoutMs: request.timeoutMs };
      bytes = await extractTree(mirror.path, commitSha, staging, { url: request.url, home: this.layout.home, signal, ...limits });
      await moveIntoPlace(this.layout, staging, path);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    const now = Date.now();
    const entry: Entry = { kind: 'tree', path, key, sha: commitSha, bytes, lastUsedMs: now, diskUsedMs: now, users: 0 };
    this.index.trees.set(treeId(key, commitSha), entry);
    return this.settle(flight, entry, commitSha, fetched);
  }

  /** Counts a lease for every member still waiting. Runs in the same synchronous step that found or made the tree, so eviction cannot come between. */
  private settle(flight: Flight, entry: Entry, commitSha: string, fetched: boolean) {
    entry.users += flight.members;
    flight.settled = true;
    if (this.flights.get(flight.key) === flight) this.flights.delete(flight.key);
    this.index.touch(entry);
    this.index.scheduleEviction();
    return { entry, commitSha, fetched };
  }

  /**
   * Returns the latest lookup of the ref when it may serve this request. It
   * must have started after the job was submitted, so the job gets the commit
   * the ref named at some moment after submission. It must also be at most
   * `refReuseMs` old.
   */
  private reusableLookup(lookupKey: string, request: CheckoutRequest): RefLookup | undefined {
    const reuseMs = this.options.refReuseMs ?? 0;
    const lookup = this.refLookups.get(lookupKey);
    if (!lookup || request.submittedAtMs === undefined || reuseMs <= 0) return undefined;
    if (lookup.startedMs < request.submittedAtMs || Date.now() - lookup.startedMs > reuseMs) return undefined;
    return lookup;
  }

  private rememberLookup(lookupKey: string, lookup: RefLookup): void {
    const previous = this.refLookups.get(lookupKey);
    // Lookups of one ref can finish out of order; the one that started last stays.
    if (previous && previous.startedMs > lookup.startedMs) return;
    this.refLookups.delete(lookupKey);
    this.refLookups.set(lookupKey, lookup);
    if (this.refLookups.size > maxRefLookups) this.refLookups.delete(this.refLookups.keys().next().value!);
  }

  private lease(entry: Entry, commitSha: string, fetched: boolean): TreeLease {
    let released = false;
    return {
      commitSha,
      treeDir: entry.path,
      bytes: entry.bytes,
      fetched,
      release: () => {
        if (released) return;
        released = true;
        entry.users--;
        if (entry.users === 0) this.index.scheduleEviction();
      },
    };
  }

  private async withRepoLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.repoLocks.get(key) ?? Promise.resolve();
    let unlock!: () => void;
    const current = previous.then(() => new Promise<void>((resolve) => (unlock = resolve)));
    this.repoLocks.set(key, current);
    await previous;
    try {
      return await work();
    } finally {
      unlock();
      if (this.repoLocks.get(key) === current) this.repoLocks.delete(key);
    }
  }
}

/** A mirror that has a commit but cannot check it out; it is discarded and the commit fetched again. */
class MirrorDamage extends Error {
  override readonly name = 'MirrorDamage';

  constructor(cause: CloneError) {
    super(`a cached mirror could not check out a commit it has: ${cause.message}`, { cause });
  }
}

/** Tells whether the URL's transport is enabled, which a tree served without a fetch must check itself. */
function transportAllowed(request: FetchRequest): boolean {
  const protocol = new URL(request.url).protocol;
  return protocol === 'https:' || (protocol === 'http:' && request.allowHttp);
}
