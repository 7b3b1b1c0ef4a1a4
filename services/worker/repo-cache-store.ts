import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, renameSync } from 'node:fs';
import { chmod, link, mkdir, readFile, readdir, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { removeTree, syncFolderTree, workerOwner } from './file-tree.js';
import { mirrorMarker } from './repo-mirror.js';
import { measureDiskUsage } from './sandbox/disk.js';

/**
 * Disk layout of one worker's repository cache, inside the folder it claimed:
 *
 *   owner.pid               pid of the worker process that uses the folder
 *   policy                  fingerprint of the address policy the entries were fetched under
 *   home/                   empty HOME for git
 *   mirrors/<key>.git       one bare mirror per repository URL
 *   trees/<key>-<sha>       one read-only checkout per commit of that repository
 *   tmp/                    entries being written; each is renamed into place when complete
 *   trash/                  entries being deleted; each is renamed here first
 *
 * Renames within one file system are atomic, so mirrors/ and trees/ only ever
 * hold complete entries, and whatever a crash leaves in tmp/ or trash/ is removed
 * at the next start.
 */

/** Most worker processes that can share one cache parent folder, each in its own numbered subfolder. */
const maxClaims = 64;

/** Folders of claimed cache subfolders in this process; another RepoCache in the process takes the next number. */
const claimedHere = new Set<string>();

/** Folder of a cache this process uses, and how to give it back. */
export interface CacheClaim {
  dir: string;
  release(): Promise<void>;
}

/**
 * Claims the first numbered subfolder of `parent` that no live process uses,
 * by linking a file that contains this process's pid to its `owner.pid`.
 * `link` fails when the lock exists, so a lock is never seen without its pid.
 * A lock whose process is gone is taken over. Throws when all subfolders are
 * in use.
 */
export async function claimCacheFolder(parent: string): Promise<CacheClaim> {
  const root = resolve(parent);
  await mkdir(root, { recursive: true, mode: 0o700 });
  for (let index = 0; index < maxClaims; index++) {
    const dir = join(root, String(index));
    if (claimedHere.has(dir)) continue;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const lockFile = join(dir, 'owner.pid');
    if (!(await createLockFile(lockFile)) && !(await takeOverStaleLock(lockFile))) continue;
    claimedHere.add(dir);
    return {
      dir,
      release: async () => {
        claimedHere.delete(dir);
        await unlink(lockFile).catch(() => undefined);
      },
    };
  }
  throw new Error(`every repository cache folder under ${root} (0 to ${maxClaims - 1}) is in use by a running worker process`);
}

/** Creates `path` containing this process's pid. Returns false when it exists. */
async function createLockFile(path: string): Promise<boolean> {
  const staged = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(staged, `${process.pid}\n`, { mode: 0o600 });
  try {
    await link(staged, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(staged).catch(() => undefined);
  }
}

/**
 * Replaces a lock whose process is gone with this process's. The old lock is
 * renamed aside first, so only one of the processes that found it stale
 * moves it. A lock that a live process made in the meantime is put back.
 */
async function takeOverStaleLock(lockFile: string): Promise<boolean> {
  const owner = await readLockOwner(lockFile);
  if (owner === undefined) return createLockFile(lockFile);
  if (owner === process.pid || isAlive(owner)) return false;
  const aside = `${lockFile}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockFile, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // Another process moved it, so the first process to link a new lock wins.
    return createLockFile(lockFile);
  }
  const asideOwner = await readLockOwner(aside);
  if (asideOwner !== owner && asideOwner !== undefined && isAlive(asideOwner)) {
    // NOTE: a third process that found no lock file in between keeps its own
    // lock, and this one cannot be put back. That takes three processes
    // claiming at once over a stale lock, which the actuator does not do.
    await link(aside, lockFile).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    return false;
  }
  await unlink(aside).catch(() => undefined);
  return createLockFile(lockFile);
}

/** Returns the pid a lock file names: 0 for one that names none, undefined when there is no file. */
async function readLockOwner(lockFile: string): Promise<number | undefined> {
  try {
    const owner = Number((await readFile(lockFile, 'utf8')).trim());
    return Number.isSafeInteger(owner) && owner > 0 ? owner : 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed worker stays a zombie until its parent reaps it, and signal 0 still reaches a zombie.
  const stat = readOptionalSync(`/proc/${pid}/stat`);
  return stat === undefined || stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

function readOptionalSync(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Returns the key of a repository URL: the same for URLs that differ only in case of scheme and host, a default port or a trailing slash. */
export function repositoryKey(url: string): string {
  const parsed = new URL(url);
  const path = parsed.pathname.replace(/\/+$/, '');
  const normalised = `${parsed.protocol}//${parsed.host}${path}${parsed.search}`;
  return createHash('sha256').update(normalised).digest('hex').slice(0, 32);
}

/** Paths of the cache's folders. */
export class CacheLayout {
  readonly home: string;
  readonly mirrors: string;
  readonly trees: string;
  readonly tmp: string;
  readonly trash: string;

  constructor(readonly dir: string) {
    this.home = join(dir, 'home');
    this.mirrors = join(dir, 'mirrors');
    this.trees = join(dir, 'trees');
    this.tmp = join(dir, 'tmp');
    this.trash = join(dir, 'trash');
  }

  mirrorPath(key: string): string {
    return join(this.mirrors, `${key}.git`);
  }

  treePath(key: string, sha: string): string {
    return join(this.trees, `${key}-${sha}`);
  }

  /** Returns a fresh path in tmp/ for an entry being written. */
  stagingPath(kind: 'mirror' | 'tree'): string {
    return join(this.tmp, `${kind}-${randomBytes(8).toString('hex')}`);
  }

  /** Moves an entry out of the way at once (synchronously, so no other caller sees it half gone), then deletes it. */
  discard(path: string): Promise<void> {
    const target = join(this.trash, randomBytes(8).toString('hex'));
    try {
      renameSync(path, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve();
      throw error;
    }
    return rm(target, { recursive: true, force: true });
  }
}

/** A complete entry found on disk at start-up. */
export interface StoredEntry {
  kind: 'mirror' | 'tree';
  path: string;
  /** Repository key; for a tree, also its commit. */
  key: string;
  sha?: string;
  bytes: number;
  lastUsedMs: number;
}

const mirrorName = /^([0-9a-f]{32})\.git$/;
const treeName = /^([0-9a-f]{32})-([0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * Prepares the cache folder and returns its complete entries. Removes what a
 * crash can leave: tmp/ and trash/, a mirror without its marker or with a
 * lock file of a git command that never finished, names that are not
 * entries. Drops every entry when the address policy changed since they were
 * fetched, because a tree present is served without a new address check.
 */
export async function recoverCache(layout: CacheLayout, policyFingerprint: string): Promise<{ entries: StoredEntry[]; discarded: string[] }> {
  for (const folder of [layout.home, layout.mirrors, layout.trees, layout.tmp, layout.trash]) {
    await mkdir(folder, { recursive: true, mode: 0o700 });
  }
  // Only root may enter the cache; jobs run as other users.
  await chmod(layout.dir, 0o700);
  const discarded: string[] = [];
  const discard = async (path: string) => {
    discarded.push(path);
    await layout.discard(path);
  };

  for (const folder of [layout.tmp, layout.trash]) {
    for (const name of await readdir(folder)) await rm(join(folder, name), { recursive: true, force: true });
  }

  const policyFile = join(layout.dir, 'policy');
  const previousPolicy = await readFile(policyFile, 'utf8').catch(() => undefined);
  if (previousPolicy?.trim() !== policyFingerprint) {
    for (const folder of [layout.mirrors, layout.trees]) {
      for (const name of await readdir(folder)) await discard(join(folder, name));
    }
    await writeFile(policyFile, `${policyFingerprint}\n`, { mode: 0o600 });
  }

  const entries: StoredEntry[] = [];
  for (const name of await readdir(layout.mirrors)) {
    const path = join(layout.mirrors, name);
    const match = mirrorName.exec(name);
    if (!match || !(await isCompleteMirror(path))) {
      await discard(path);
      continue;
    }
    entries.push({ kind: 'mirror', path, key: match[1], ...(await sizeAndAge(path)) });
  }
  for (const name of await readdir(layout.trees)) {
    const path = join(layout.trees, name);
    const match = treeName.exec(name);
    if (!match) {
      await discard(path);
      continue;
    }
    entries.push({ kind: 'tree', path, key: match[1], sha: match[2], ...(await sizeAndAge(path)) });
  }
  return { entries, discarded };
}

/**
 * Tells whether a mirror is whole: it has its marker and the files git needs,
 * and no lock file, which a git command killed with SIGKILL leaves behind
 * and which would make every later fetch fail. Removes temporary packs of
 * unfinished fetches, which git never reads.
 */
export async function isCompleteMirror(path: string): Promise<boolean> {
  const names = await readdir(path).catch(() => [] as string[]);
  const required = [mirrorMarker, 'HEAD', 'objects', 'refs', 'config'];
  if (required.some((name) => !names.includes(name))) return false;
  if (names.some((name) => name.endsWith('.lock'))) return false;
  const packs = join(path, 'objects', 'pack');
  for (const name of await readdir(packs).catch(() => [] as string[])) {
    if (name.startsWith('tmp_')) await rm(join(packs, name), { force: true });
  }
  return true;
}

async function sizeAndAge(path: string): Promise<{ bytes: number; lastUsedMs: number }> {
  const [usage, info] = await Promise.all([measureDiskUsage(path, Number.MAX_SAFE_INTEGER), stat(path)]);
  return { bytes: usage.bytes, lastUsedMs: info.mtimeMs };
}

/** Measures an entry's disk use in bytes. */
export async function entryBytes(path: string): Promise<number> {
  return (await measureDiskUsage(path, Number.MAX_SAFE_INTEGER)).bytes;
}

/** Records a use in the entry's modification time, which orders eviction after a restart. */
export async function touchEntry(path: string, nowMs: number): Promise<void> {
  const time = new Date(nowMs);
  await utimes(path, time, time).catch(() => undefined);
}

/** Moves a complete staging folder to `target`. An entry already at `target` (unknown to the index) is discarded first. */
export async function moveIntoPlace(layout: CacheLayout, staging: string, target: string): Promise<void> {
  try {
    await rename(staging, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    await layout.discard(target);
    await rename(staging, target);
  }
}

/** Returns a digest of the settings that decide which repositories may be fetched. */
export function policyFingerprint(policy: { allowHttp: boolean; allowedAddresses: string[] }): string {
  const normalised = JSON.stringify({ allowHttp: policy.allowHttp, allowedAddresses: [...policy.allowedAddresses].sort() });
  return createHash('sha256').update(normalised).digest('hex');
}

/** Trees up to this size are copied by the worker itself; starting `cp` costs more than copying a few dozen files. */
export const inProcessCopyBytes = 2 * 1024 * 1024;

/**
 * Makes `destination` a copy of a tree of `bytes` bytes, keeping modes and
 * symbolic links, and returns true when the copy was made in this process.
 * A small tree is synchronised into whatever `destination` contains (see
 * syncFolderTree), so an earlier copy of it costs almost nothing. A larger
 * one goes to an emptied folder with `cp -a`, which shares blocks where the
 * file system can (FICLONE).
 */
export async function copyTree(source: string, destination: string, bytes: number, signal: AbortSignal): Promise<boolean> {
  if (bytes > inProcessCopyBytes) {
    await removeTree(destination);
    await copyTreeWithCp(source, destination, signal);
    return false;
  }
  try {
    await syncFolderTree(source, destination, workerOwner(), signal);
    return true;
  } catch (error) {
    if (signal.aborted) throw error;
    throw new Error(`copying the cached tree ${source} to ${destination} failed: ${(error as Error).message}`, { cause: error });
  }
}

function copyTreeWithCp(source: string, destination: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('cp', ['-a', '--reflink=auto', '-T', '--', source, destination], { signal }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`copying the cached tree ${source} to ${destination} failed: ${stderr.trim() || error.message}`, { cause: error }));
    });
  });
}
