import { chmodSync, lchownSync, lstatSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { emptyFolder, removeTree } from './file-tree.js';

/** Folders in every job folder: the checkout, HOME and TMPDIR. */
export const jobSubfolders = ['src', 'home', 'tmp'] as const;

/** Mode of a job folder and of its subfolders when a job gets them. */
const folderMode = 0o755;

/**
 * Makes and disposes of the folders of one worker's jobs. A short job's
 * folders cost more to make and delete than anything else it does on disk,
 * because ext4 looks at every recently freed inode when it allocates a new
 * one. So a finished job's folder is emptied and kept as a spare, under
 * `<workDir>/spare`, and the next job takes it with one rename.
 *
 * A spare is emptied down to its three subfolders. When a job takes it,
 * their owner and modes are set back to those of a new folder, so no job
 * finds what an earlier job left.
 * Workers that share a work folder never share spares: each keeps a list of
 * its own, and a spare that is gone when taken is skipped.
 */
export class JobFolders {
  private readonly spareDir: string;
  private readonly spares: string[] = [];
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
    while (this.spares.length > 0) await removeTree(this.spares.pop()!);
  }

  /** Spares waiting for a job. */
  get spareCount(): number {
    return this.spares.length;
  }

  /** Makes the folder `jobDir` with empty src, home and tmp, from a spare when there is one. */
  async create(jobDir: string): Promise<void> {
    // A folder of the same name, from a worker that stopped during the job, goes first.
    await removeTree(jobDir);
    const fromSpare = this.takeSpare(jobDir);
    if (!fromSpare) {
      mkdirSync(jobDir);
      for (const name of jobSubfolders) mkdirSync(join(jobDir, name));
    }
    for (const path of [jobDir, ...jobSubfolders.map((name) => join(jobDir, name))]) {
      // A spare belonged to the last job's user. git, run by the worker, refuses a repository folder of another user.
      if (fromSpare) lchownSync(path, process.getuid!(), process.getgid!());
      // Set here and not at mkdir, where the umask would apply.
      chmodSync(path, folderMode);
    }
  }

  /** Renames a spare of this worker to `jobDir`, and returns false when none is left. */
  private takeSpare(jobDir: string): boolean {
    while (this.spares.length > 0) {
      try {
        renameSync(this.spares.pop()!, jobDir);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return false;
  }

  /**
   * Empties `jobDir` and keeps it as a spare, or deletes it when there are
   * enough spares. Whatever the job did to the folder's shape, what stays is
   * the folder with its three empty subfolders.
   */
  async release(jobDir: string): Promise<void> {
    if (this.spares.length >= this.maxSpares) return removeTree(jobDir);
    try {
      await emptyJobFolder(jobDir);
      mkdirSync(this.spareDir, { recursive: true, mode: 0o700 });
      const spare = join(this.spareDir, `${process.pid}-${++this.sparesMade}`);
      // In the thread pool, because the folder was a sandbox's mount point (see removeTree).
      await rename(jobDir, spare);
      this.spares.push(spare);
    } catch (error) {
      await removeTree(jobDir);
      throw error;
    }
  }
}

/** Deletes everything in a job folder except its three subfolders, which it empties (and makes again if the job removed them). */
async function emptyJobFolder(jobDir: string): Promise<void> {
  const keep = new Set<string>(jobSubfolders);
  // The folder may be closed to its owner by a job without a sandbox.
  chmodSync(jobDir, 0o700);
  for (const entry of readdirSync(jobDir, { withFileTypes: true })) {
    const path = join(jobDir, entry.name);
    if (keep.has(entry.name) && entry.isDirectory()) await emptyFolder(path);
    else await removeTree(path);
  }
  for (const name of jobSubfolders) {
    const path = join(jobDir, name);
    if (!isFolder(path)) mkdirSync(path, { mode: folderMode });
  }
}

function isFolder(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
