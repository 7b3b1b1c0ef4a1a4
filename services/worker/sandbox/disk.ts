import { lstatSync, opendirSync, readdirSync, type Dir } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Result of one walk over a folder. */
export interface DiskUsage {
  /** Space allocated to the files, from their block counts (a sparse file counts only its written blocks). */
  bytes: number;
  /** Files, folders and links seen. */
  entries: number;
  /** True when the walk stopped at `maxEntries`; `bytes` then covers only part of the folder. */
  truncated: boolean;
}

export interface DiskWatchOptions {
  dir: string;
  /** Usage above this many bytes calls `onExceeded`. */
  limitBytes: number;
  /** More entries than this calls `onExceeded` too, since a walk past it would cost too much. Default 100,000. */
  maxEntries?: number;
  /** Time from the end of one walk to the start of the next, in ms. Default 500. */
  intervalMs?: number;
  /** Called once, with the walk that went over a limit; the watcher stops itself first. */
  onExceeded: (usage: DiskUsage) => void;
}

export interface DiskWatcher {
  /** Most recent complete walk, if one finished. */
  readonly lastUsage: DiskUsage | undefined;
  /**
   * Walks the folder now, as when a step ends, and calls `onExceeded` when
   * it is over a limit. A job that filled its folder between two walks and
   * ended before the next is caught here. Does nothing once stopped.
   */
  check(): Promise<void>;
  stop(): void;
}

/** Entries measured between two yields to the event loop. */
const entriesPerTurn = 256;

/**
 * Largest folder, by its size from lstat, whose names are read at once.
 * The size bounds the number of entries: on ext4 each takes at least 12
 * bytes of the folder and on tmpfs 20, so a few thousand names at most.
 * Other file systems count differently (ZFS reports the entry count), but
 * the bound stays in the tens of thousands.
 * A larger folder, or one of size 0, as file systems that keep no size for
 * folders report, is read in batches. A batch reader costs more to open
 * than the read itself for the few entries of a job folder.
 */
const readWholeMaxBytes = 32n * 1024n;

/**
 * Measures the disk space used below `dir`. Links are not followed, each
 * inode is counted once (hard links), and entries that vanish during the
 * walk are skipped. The walk stops after `maxEntries` entries.
 *
 * The calls are synchronous, with a yield to the event loop every
 * `entriesPerTurn` entries: a job folder has a few dozen entries, and a
 * promise per entry cost more than the calls themselves (see file-tree.ts).
 */
export async function measureDiskUsage(dir: string, maxEntries = 100_000): Promise<DiskUsage> {
  const usage: DiskUsage = { bytes: 0, entries: 0, truncated: false };
  const seen = new Set<string>();
  const pending = [dir];
  // Names waiting in `pending` count too.
  const room = () => usage.entries + pending.length < maxEntries;
  let left = entriesPerTurn;

  while (pending.length > 0) {
    const path = pending.pop()!;
    if (usage.entries >= maxEntries) {
      usage.truncated = true;
      break;
    }
    if (--left === 0) {
      left = entriesPerTurn;
      await nextTurn();
    }
    let info;
    try {
      info = lstatSync(path, { bigint: true });
    } catch (error) {
      if (isGone(error)) continue;
      throw error;
    }
    usage.entries += 1;
    const inode = `${info.dev}:${info.ino}`;
    if (!seen.has(inode)) {
      seen.add(inode);
      usage.bytes += Number(info.blocks) * 512;
    }
    if (!info.isDirectory()) continue;
    if (info.size > 0n && info.size <= readWholeMaxBytes) {
      let names: string[];
      try {
        names = readdirSync(path);
      } catch (error) {
        if (isGone(error)) continue;
        throw error;
      }
      for (const name of names) {
        if (!room()) {
          usage.truncated = true;
          return usage;
        }
        pending.push(join(path, name));
      }
      continue;
    }
    let folder: Dir;
    try {
      folder = opendirSync(path);
    } catch (error) {
      if (isGone(error)) continue;
      throw error;
    }
    try {
      // Read in batches, not whole, so that one huge folder cannot fill memory.
      for (let entry = folder.readSync(); entry !== null; entry = folder.readSync()) {
        if (!room()) {
          usage.truncated = true;
          return usage;
        }
        pending.push(join(path, entry.name));
      }
    } catch (error) {
      if (!isGone(error)) throw error;
    } finally {
      folder.closeSync();
    }
  }
  return usage;
}

/**
 * Walks `dir` every `intervalMs`, the first time one interval after the
 * call, and on `check`, and calls `onExceeded` the first time it uses more
 * than `limitBytes` or contains more than `maxEntries` entries.
 * A job can go over the limit by what it writes between two walks, so pair
 * this with an RLIMIT_FSIZE that bounds any one file. A walk that fails is
 * retried at the next interval.
 */
export function watchDiskUsage(options: DiskWatchOptions): DiskWatcher {
  const maxEntries = options.maxEntries ?? 100_000;
  const intervalMs = options.intervalMs ?? 500;
  if (!Number.isSafeInteger(options.limitBytes) || options.limitBytes < 0) {
    throw new RangeError(`invalid limitBytes ${options.limitBytes}: expected a non-negative integer`);
  }
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) throw new RangeError(`invalid intervalMs ${intervalMs}: expected at least 1`);

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  /** Walks once; returns false when the watcher stopped, meanwhile or because the walk went over a limit. */
  const measure = async (): Promise<boolean> => {
    let usage: DiskUsage | undefined;
    try {
      usage = await measureDiskUsage(options.dir, maxEntries);
    } catch {
      // The folder may not exist yet or may be being removed; the next walk tries again.
    }
    if (stopped) return false;
    if (usage) {
      watcher.lastUsage = usage;
      if (usage.bytes > options.limitBytes || usage.truncated) {
        watcher.stop();
        options.onExceeded(usage);
        return false;
      }
    }
    return true;
  };
  const watcher: DiskWatcher & { lastUsage: DiskUsage | undefined } = {
    lastUsage: undefined,
    async check() {
      if (!stopped) await measure();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };

  const walk = async () => {
    if (await measure()) timer = setTimeout(walk, intervalMs);
  };
  // A folder just handed over contains only what the worker put there, so the first walk waits one interval and a short job needs none.
  timer = setTimeout(walk, intervalMs);
  return watcher;
}

function isGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
