import type { Logger } from '../../common/logger.js';
import { touchEntry, type CacheLayout, type StoredEntry } from './repo-cache-store.js';

/** A mirror or tree in the cache, with its use count. */
export interface Entry extends StoredEntry {
  /** Leases of a tree, or git commands running in a mirror. */
  users: number;
  /** Last use as written to the folder's modification time, in ms since the epoch. */
  diskUsedMs: number;
}

/**
 * Age of the last use written to disk before a use writes it again. The
 * time on disk only orders eviction after a restart, where a minute off
 * matters little, and writing it on every use cost two file system calls
 * per job.
 */
export const diskTouchIntervalMs = 60_000;

/** Returns the index key of the tree of commit `sha` of repository `key`, which is also its folder name. */
export function treeId(key: string, sha: string): string {
  return `${key}-${sha}`;
}

/**
 * Entries of the repository cache in memory, with their sizes and last use.
 * Once they take more than `maxBytes`, it evicts the least recently used
 * entries that have no users. Every change to the maps happens in one synchronous
 * step with the rename on disk, so a caller that finds an entry can count
 * itself as a user before eviction can run.
 */
export class CacheIndex {
  readonly mirrors = new Map<string, Entry>();
  readonly trees = new Map<string, Entry>();
  private evicting: Promise<void> = Promise.resolve();
  /** Writes of last-use times still running. */
  private readonly touches = new Set<Promise<void>>();

  constructor(
    private readonly layout: CacheLayout,
    private readonly maxBytes: number,
    private readonly log: Logger,
    entries: StoredEntry[],
  ) {
    for (const entry of entries) {
      const loaded = { ...entry, users: 0, diskUsedMs: entry.lastUsedMs };
      if (entry.kind === 'mirror') this.mirrors.set(entry.key, loaded);
      else this.trees.set(treeId(entry.key, entry.sha!), loaded);
    }
  }

  usage(): { bytes: number; mirrors: number; trees: number } {
    let bytes = 0;
    for (const entry of [...this.mirrors.values(), ...this.trees.values()]) bytes += entry.bytes;
    return { bytes, mirrors: this.mirrors.size, trees: this.trees.size };
  }

  /** Records a use now, in memory, and as the entry's modification time once the one on disk is `diskTouchIntervalMs` old. */
  touch(entry: Entry): void {
    entry.lastUsedMs = Date.now();
    if (entry.lastUsedMs - entry.diskUsedMs < diskTouchIntervalMs) return;
    this.writeUseTime(entry);
  }

  private writeUseTime(entry: Entry): void {
    entry.diskUsedMs = entry.lastUsedMs;
    const touched = touchEntry(entry.path, entry.lastUsedMs).finally(() => this.touches.delete(touched));
    this.touches.add(touched);
  }

  /** Writes to disk every last use that only memory has, so that a restart evicts in the order of use. */
  saveUseTimes(): void {
    for (const entry of [...this.mirrors.values(), ...this.trees.values()]) {
      if (entry.lastUsedMs > entry.diskUsedMs) this.writeUseTime(entry);
    }
  }

  /** Removes an entry from the index and from disk. */
  async forget(entry: Entry): Promise<void> {
    if (entry.kind === 'mirror') this.mirrors.delete(entry.key);
    else this.trees.delete(treeId(entry.key, entry.sha!));
    await this.layout.discard(entry.path);
  }

  scheduleEviction(): void {
    this.evicting = this.evicting
      .then(() => this.evictOverflow())
      .catch((error: unknown) => this.log.error({ err: error, dir: this.layout.dir }, 'evicting from the repository cache failed'));
  }

  /** Resolves when the evictions and last-use times scheduled so far are done. */
  async idle(): Promise<void> {
    await Promise.all([this.evicting, ...this.touches]);
  }

  /** Evicts the least recently used entries that no job or git command uses until the cache fits `maxBytes`. */
  private async evictOverflow(): Promise<void> {
    let bytes = this.usage().bytes;
    if (bytes <= this.maxBytes) return;
    const idle = [...this.mirrors.values(), ...this.trees.values()].filter((entry) => entry.users === 0);
    idle.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    const removals: Array<Promise<void>> = [];
    let freedBytes = 0;
    for (const entry of idle) {
      if (bytes <= this.maxBytes) break;
      // forget() takes the entry out of the index and renames it away before its first await.
      removals.push(this.forget(entry));
      bytes -= entry.bytes;
      freedBytes += entry.bytes;
      this.log.debug({ path: entry.path, bytes: entry.bytes }, 'evicted a repository cache entry');
    }
    await Promise.all(removals);
    this.log.info({ evicted: removals.length, freedBytes, bytes, maxBytes: this.maxBytes }, 'evicted repository cache entries');
  }
}
