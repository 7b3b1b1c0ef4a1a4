import {
  chmodSync,
  constants,
  copyFileSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  type Dirent,
} from 'node:fs';
import { rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Walks over job folders and cached trees. Changing owners and copying use
 * synchronous file system calls, yielding to the event loop after every
 * `entriesPerTurn` entries: a job folder contains a few dozen entries, and
 * one promise per call costs far more than the calls themselves. The yield
 * keeps a large tree from holding up the worker's other work. Symbolic
 * links are never followed.
 */

/** Entries handled between two yields to the event loop. */
export const entriesPerTurn = 256;

/** Counts entries and yields to the event loop once per `entriesPerTurn`. */
class Turns {
  private left = entriesPerTurn;

  async tick(signal?: AbortSignal): Promise<void> {
    if (--this.left > 0) return;
    this.left = entriesPerTurn;
    await nextTurn();
    signal?.throwIfAborted();
  }
}

/** Changes the owner of `root` and of every entry below it; links are changed themselves. */
export async function chownTree(root: string, uid: number, gid: number): Promise<void> {
  lchownSync(root, uid, gid);
  if (!lstatSync(root).isDirectory()) return;
  const turns = new Turns();
  const pending = [root];
  while (pending.length > 0) {
    const folder = pending.pop()!;
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      lchownSync(path, uid, gid);
      if (entry.isDirectory()) pending.push(path);
      await turns.tick();
    }
  }
}

/**
 * Copies folder `source` to `destination` (which may exist if empty),
 * keeping file modes and symbolic links. Files share blocks with the source
 * where the file system can (FICLONE). Throws for an entry that is not a
 * file, folder or link.
 */
export async function copyFolderTree(source: string, destination: string, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  const turns = new Turns();
  const folders: Array<{ from: string; to: string; mode: number }> = [];
  const pending = [{ from: source, to: destination }];
  mkdirSync(destination, { recursive: true });
  while (pending.length > 0) {
    const { from, to } = pending.pop()!;
    folders.push({ from, to, mode: lstatSync(from).mode & 0o7777 });
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      const path = join(from, entry.name);
      const target = join(to, entry.name);
      if (entry.isDirectory()) {
        mkdirSync(target);
        pending.push({ from: path, to: target });
      } else if (entry.isSymbolicLink()) {
        symlinkSync(readlinkSync(path), target);
      } else if (entry.isFile()) {
        // copyFile keeps the mode.
        copyFileSync(path, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      } else {
        throw new Error(`${path} is neither a file, a folder nor a symbolic link`);
      }
      await turns.tick(signal);
    }
  }
  // mkdir applies the umask; each folder gets the mode git checked it out with.
  for (const { to, mode } of folders) chmodSync(to, mode);
}

/**
 * Deletes `root` and everything below it without following links. A missing
 * `root` is not an error, and neither is an entry that vanishes meanwhile. A
 * folder that the worker may not read or change, as a job without a sandbox
 * can leave behind, is opened up for its owner first.
 *
 * `root` goes last, in the thread pool, because it is the folder a sandbox
 * had mounted: right after the sandbox exits, its removal can wait tens of
 * milliseconds for the kernel to tear down the sandbox's mounts.
 */
export async function removeTree(root: string): Promise<void> {
  let info;
  try {
    info = lstatSync(root);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  if (!info.isDirectory()) {
    // Not through removeEntry, which would open up the folder that contains `root`.
    try {
      unlinkSync(root);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
    return;
  }
  await emptyFolder(root);
  try {
    await rmdir(root);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    if (errorCode(error) !== 'ENOTEMPTY') throw error;
    // Something was added during the walk.
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * Deletes everything below `folder` and keeps the folder, like `removeTree`.
 * The entries go with synchronous calls, one turn at a time: a promise per
 * entry costs more than the removal itself.
 */
export async function emptyFolder(folder: string): Promise<void> {
  const turns = new Turns();
  // Each folder is listed after the folder it is in, so the reverse order removes children first.
  const listed: string[] = [];
  const pending = [folder];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const entries = removeEntry(current, () => readdirSync(current, { withFileTypes: true }));
    if (entries === undefined) continue;
    listed.push(current);
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else removeEntry(current, () => unlinkSync(path));
      await turns.tick();
    }
  }
  for (let index = listed.length - 1; index > 0; index--) {
    const path = listed[index];
    removeEntry(dirname(path), () => rmdirSync(path));
    await turns.tick();
  }
}

/**
 * Runs one step of a removal that reads or changes `folder`. When access is
 * denied, it opens the folder to its owner and tries once more. A vanished
 * entry ends the step with undefined.
 */
function removeEntry<T>(folder: string, step: () => T): T | undefined {
  try {
    return step();
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    if (errorCode(error) !== 'EACCES' && errorCode(error) !== 'EPERM') throw error;
  }
  chmodSync(folder, 0o700);
  try {
    return step();
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}
