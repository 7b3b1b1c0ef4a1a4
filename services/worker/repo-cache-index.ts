import type { Logger } from '../../common/logger.js';
import { touchEntry, type CacheLayout, type StoredEntry } from './repo-cache-store.js';

/** A mirror or tree in the cache, with its use count. */
export interface Entry extends StoredEntry {
  /** Leases of a tree, or git commands running in a mirror. */
  users: number;
}

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
      if (entry.kind === 'mirror') this.mirrors.set(entry.key, { ...entry, users: 0 });
      else this.trees.set(treeId(entry.key, entry.sha!), { ...entry, users: 0 });
    }
  }

  usage(): { bytes: number; mirrors: number; trees: number } {
    let bytes = 0;
    for (const entry of [...this.mirrors.values(), ...this.trees.values()]) bytes += entry.bytes;
    return { bytes, mirrors: this.mirrors.size, trees: this.trees.size };
  }

  /** Records a use now, in memory and as the entry's modification time. */
  touch(entry: Entry): void {
    entry.lastUsedMs = Date.now();
    const touched = touchEntry(entry.path, entry.lastUsedMs).finally(() => this.touches.delete(touched));
    this.touches.add(touched);
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
