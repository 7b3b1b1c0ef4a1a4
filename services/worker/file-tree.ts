import { chmodSync, constants, copyFileSync, lchownSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
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
 * `root` is not an error.
 */
export async function removeTree(root: string): Promise<void> {
  // In the thread pool, because removing a folder that a sandbox had mounted
  // can wait tens of milliseconds for the kernel and would stall the event loop.
  await rm(root, { recursive: true, force: true });
}
