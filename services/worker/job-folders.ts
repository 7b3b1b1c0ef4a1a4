import { chmodSync, existsSync, lchownSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { emptyFolder, isFolder, removeTree, syncFolderTree, workerOwner } from './file-tree.js';

/** Folders in every job folder: the checkout, HOME and TMPDIR. */
export const jobSubfolders = ['src', 'home', 'tmp'] as const;

/** Mode of a job folder and of its subfolders when a job gets them. */
const folderMode = 0o755;

/** A released job folder waiting for the next job. */
interface Spare {
  path: string;
  /** The cached tree that its src is an exact copy of. Unset when src is empty. */
  tree?: string;
}

/**
 * Makes and disposes of the folders of one worker's jobs. A short job's
 * folders cost more to make and delete than anything else it does on disk,
 * because ext4 looks at every recently freed inode when it allocates a new
 * one. So a finished job's folder is emptied and kept as a spare, under
 * `<workDir>/spare`, and the next job takes it with one rename.
 *
 * A spare is emptied down to its three subfolders. Only a checkout from
 * the repository cache stays in src, set back to an exact copy of its cached
 * tree, so that a job of the same commit finds its files in place (see
 * `keepTree`). When a job takes a spare, the folders' owner and modes are
 * set back to those of a new folder, so no job finds what an earlier job
 * left.
 * Workers that share a work folder never share spares: each keeps a list of
 * its own, and a spare that is gone when taken is skipped.
 */
export class JobFolders {
  private readonly spareDir: string;
  private readonly spares: Spare[] = [];
  /** Job folders whose src is a checkout of a cached tree, by folder. */
  private readonly trees = new Map<string, string>();
  private sparesMade = 0;

  /** Keeps at most `maxSpares` spares and deletes the folders released beyond them. */
  constructor(
    workDir: string,
    private readonly maxSpares: number,
  ) {
    this.spareDir = join(workDir, 'spare');
  }

  /** Deletes the spares that earlier worker processes left behind. */
  async removeLeftovers(): Promise<void> {
    await removeTree(this.spareDir);
  }

  /** Deletes this worker's spares, as it stops. */
  async removeSpares(): Promise<void> {
    while (this.spares.length > 0) await removeTree(this.spares.pop()!.path);
  }

  /** Spares waiting for a job. */
  get spareCount(): number {
    return this.spares.length;
  }

  /**
   * Makes the folder `jobDir` with src, home and tmp, from a spare when there
   * is one. home and tmp are empty. When the spare kept a checkout, src is an
   * exact copy of a cached tree, which this returns. Otherwise src is empty.
   */
  async create(jobDir: string): Promise<string | undefined> {
    // A folder of the same name, from a worker that stopped during the job, goes first.
    await removeTree(jobDir);
    this.trees.delete(jobDir);
    const spare = this.takeSpare(jobDir);
    if (!spare) {
      mkdirSync(jobDir);
      for (const name of jobSubfolders) mkdirSync(join(jobDir, name));
    }
    const owner = workerOwner();
    for (const path of [jobDir, ...jobSubfolders.map((name) => join(jobDir, name))]) {
      // A spare belonged to the last job's user. git, run by the worker, refuses a repository folder of another user.
      if (spare) lchownSync(path, owner.uid, owner.gid);
      // Set here and not at mkdir, where the umask would apply.
      chmodSync(path, folderMode);
    }
    return spare?.tree;
  }

  /**
   * Records that the src of `jobDir` is now an exact copy of the cached tree
   * `tree`, so that `release` keeps the checkout. Without a call, or with
   * `tree` undefined, release empties src.
   */
  keepTree(jobDir: string, tree: string | undefined): void {
    if (tree === undefined) this.trees.delete(jobDir);
    else this.trees.set(jobDir, tree);
  }

  /** Forgets `jobDir`, which stays where it is for the operator to look at (WORKER_KEEP_JOB_DIRS). */
  leave(jobDir: string): void {
    this.trees.delete(jobDir);
  }

  /** Renames a spare of this worker to `jobDir`, and returns undefined when none is left. */
  private takeSpare(jobDir: string): Spare | undefined {
    // The latest spare first: its files are the most likely to be in the page cache.
    while (this.spares.length > 0) {
      const spare = this.spares.pop()!;
      try {
        renameSync(spare.path, jobDir);
        return spare;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return undefined;
  }

  /**
   * Empties `jobDir` and keeps it as a spare, or deletes it when there are
   * enough spares. Whatever the job did to the folder's shape, what stays is
   * the folder with its three empty subfolders, or with src set back to the
   * cached tree that `keepTree` recorded. Call only once the job's processes
   * are gone, because nothing may change the folder while it waits as a spare.
   */
  async release(jobDir: string): Promise<void> {
    const tree = this.trees.get(jobDir);
    this.trees.delete(jobDir);
    // A job that failed before it got its folder, such as one asking for network access where none is granted.
    if (!existsSync(jobDir)) return;
    if (this.spares.length >= this.maxSpares) return removeTree(jobDir);
    try {
      const restored = await emptyJobFolder(jobDir, tree);
      mkdirSync(this.spareDir, { recursive: true, mode: 0o700 });
      const path = join(this.spareDir, `${process.pid}-${++this.sparesMade}`);
      // In the thread pool, because the folder was a sandbox's mount point (see removeTree).
      await rename(jobDir, path);
      this.spares.push({ path, tree: restored ? tree : undefined });
    } catch (error) {
      await removeTree(jobDir);
      throw error;
    }
  }
}

/**
 * Deletes everything in a job folder except its three subfolders, which it
 * empties (and makes again if the job removed them). With `tree`, src is set
 * back to a copy of that cached tree instead. Returns false when that failed
 * and src was emptied.
 */
async function emptyJobFolder(jobDir: string, tree: string | undefined): Promise<boolean> {
  const keep = new Set<string>(jobSubfolders);
  // The folder may be closed to its owner by a job without a sandbox.
  chmodSync(jobDir, 0o700);
  let restored = false;
  for (const entry of readdirSync(jobDir, { withFileTypes: true })) {
    const path = join(jobDir, entry.name);
    if (!keep.has(entry.name) || !entry.isDirectory()) await removeTree(path);
    else if (entry.name !== 'src' || tree === undefined) await emptyFolder(path);
    else restored = await restoreTree(tree, path);
  }
  for (const name of jobSubfolders) {
    const path = join(jobDir, name);
    if (!isFolder(path)) mkdirSync(path, { mode: folderMode });
  }
  return restored;
}

/** Sets `src` back to an exact copy of `tree`. Empties it and returns false when that fails, as when the cache evicted the tree. */
async function restoreTree(tree: string, src: string): Promise<boolean> {
  try {
    await syncFolderTree(tree, src, workerOwner(), new AbortController().signal);
    return true;
  } catch {
    await emptyFolder(src);
    return false;
  }
}
