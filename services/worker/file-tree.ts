import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  ftruncateSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  writeSync,
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
 * Makes `destination` an exact copy of folder `source`, with its file
 * modes and symbolic links, whatever `destination` contained before: a
 * missing or empty folder, an earlier copy of the same tree, or a copy of
 * another. Entries that `source` lacks are deleted, files that differ are
 * rewritten, and files and folders that are already right stay as they are.
 * On ext4 a second copy of a tree then costs a few reads instead of a new
 * inode per entry, because allocating inodes where many were freed lately
 * is slow.
 *
 * A file is rewritten in place only when it is a regular file with a single
 * link; anything else in its place is deleted first. Links are never
 * followed, and every entry ends up owned by `owner`. New files share blocks
 * with the source where the file system can (FICLONE). Throws for an entry of
 * `source` that is not a file, folder or link.
 */
export async function syncFolderTree(source: string, destination: string, owner: Owner, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  const turns = new Turns();
  const folders: Array<{ to: string; mode: number }> = [];
  if (!isFolder(destination)) {
    await removeTree(destination);
    mkdirSync(destination, { recursive: true });
  }
  const pending = [{ from: source, to: destination }];
  while (pending.length > 0) {
    const { from, to } = pending.pop()!;
    folders.push({ to, mode: lstatSync(from).mode & 0o7777 });
    const present = new Map(readdirSync(to, { withFileTypes: true }).map((entry) => [entry.name, entry]));
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      const path = join(from, entry.name);
      const target = join(to, entry.name);
      const existing = present.get(entry.name);
      present.delete(entry.name);
      if (entry.isDirectory()) {
        if (existing && !existing.isDirectory()) await removeTree(target);
        if (!existing?.isDirectory()) mkdirSync(target);
        pending.push({ from: path, to: target });
      } else if (entry.isSymbolicLink()) {
        const link = readlinkSync(path);
        if (!existing?.isSymbolicLink() || readlinkSync(target) !== link) {
          if (existing) await removeTree(target);
          symlinkSync(link, target);
        }
        lchownSync(target, owner.uid, owner.gid);
      } else if (entry.isFile()) {
        if (!(existing?.isFile() && rewriteFile(path, target, owner))) {
          if (existing) await removeTree(target);
          // copyFile keeps the mode.
          copyFileSync(path, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
          lchownSync(target, owner.uid, owner.gid);
        }
      } else {
        throw new Error(`${path} is neither a file, a folder nor a symbolic link`);
      }
      await turns.tick(signal);
    }
    // What the source does not have.
    for (const name of present.keys()) {
      await removeTree(join(to, name));
      await turns.tick(signal);
    }
  }
  // mkdir applies the umask; each folder gets the mode git checked it out with.
  for (const { to, mode } of folders) {
    chmodSync(to, mode);
    lchownSync(to, owner.uid, owner.gid);
  }
}

/** User and group that own a copied tree. */
export interface Owner {
  uid: number;
  gid: number;
}

/** Returns the worker's own user and group. */
export function workerOwner(): Owner {
  return { uid: process.getuid!(), gid: process.getgid!() };
}

/**
 * Makes the regular file `target` hold the content and mode of `source`,
 * writing only when the content differs. Returns false, changing nothing,
 * when `target` is not a regular file with a single link, because truncating
 * a file with another name could change a file outside the copy.
 */
function rewriteFile(source: string, target: string, owner: Owner): boolean {
  const fd = openSync(target, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || info.nlink !== 1) return false;
    const sourceInfo = lstatSync(source);
    const content = readFileSync(source);
    if (info.size !== content.length || !content.equals(readFileSync(fd))) {
      // Written first and cut to length after, because ext4 flushes a file that was cut to zero and written again at close.
      writeAll(fd, content);
      ftruncateSync(fd, content.length);
    }
    if ((info.mode & 0o7777) !== (sourceInfo.mode & 0o7777)) fchmodSync(fd, sourceInfo.mode & 0o7777);
    if (info.uid !== owner.uid || info.gid !== owner.gid) fchownSync(fd, owner.uid, owner.gid);
    return true;
  } finally {
    closeSync(fd);
  }
}

/** Writes all of `content` from the start of the file. */
function writeAll(fd: number, content: Buffer): void {
  let written = 0;
  while (written < content.length) written += writeSync(fd, content, written, content.length - written, written);
}

/** Returns true when `path` is a folder, not following a link, and false when it is missing. */
export function isFolder(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
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
