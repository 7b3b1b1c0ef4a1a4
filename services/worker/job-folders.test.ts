import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeTree } from '../../test/tree-listing.js';
import { chownTree, syncFolderTree, workerOwner } from './file-tree.js';
import { JobFolders, jobSubfolders } from './job-folders.js';

describe('job folders', () => {
  let root: string;
  let workDir: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-job-folders-'));
    workDir = join(root, 'work');
    await mkdir(workDir);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Asserts that `jobDir` contains exactly the three empty subfolders, each with mode 755 and this process's owner. */
  function assertFresh(jobDir: string): void {
    assert.deepEqual(readdirSync(jobDir).sort(), [...jobSubfolders].sort());
    for (const path of [jobDir, ...jobSubfolders.map((name) => join(jobDir, name))]) {
      const info = lstatSync(path);
      assert.ok(info.isDirectory(), path);
      assert.equal(info.mode & 0o7777, 0o755, path);
      assert.equal(info.uid, process.getuid!(), path);
      assert.equal(info.gid, process.getgid!(), path);
    }
    for (const name of jobSubfolders) assert.deepEqual(readdirSync(join(jobDir, name)), [], name);
  }

  it('makes src, home and tmp', async () => {
    const folders = new JobFolders(workDir, 2);
    await folders.create(join(workDir, 'job-1'));
    assertFresh(join(workDir, 'job-1'));
  });

  it('releases a folder that was never made without an error', async () => {
    const folders = new JobFolders(workDir, 2);
    await folders.release(join(workDir, 'job-never-made'));
    assert.deepEqual(readdirSync(workDir), []);
    // The next job still gets a folder of its own.
    await folders.create(join(workDir, 'job-2'));
    assertFresh(join(workDir, 'job-2'));
  });

  it('reuses a released folder, emptied', async () => {
    const folders = new JobFolders(workDir, 2);
    const first = join(workDir, 'job-1');
    await folders.create(first);
    const inode = lstatSync(first).ino;

    // What a job may do to its folder: add files and folders anywhere, close
    // folders, replace a subfolder with a link out of the folder, remove another.
    const outside = join(root, 'outside.txt');
    await writeFile(outside, 'keep me\n');
    await mkdir(join(first, 'src', 'deep', 'er'), { recursive: true });
    await writeFile(join(first, 'src', 'deep', 'er', 'file'), 'x');
    await writeFile(join(first, 'home', '.secret'), 'of the first job');
    await writeFile(join(first, 'extra'), 'x');
    await mkdir(join(first, 'closed'));
    await chmod(join(first, 'closed'), 0o000);
    await chmod(join(first, 'home'), 0o000);
    await rm(join(first, 'tmp'), { recursive: true });
    await symlink(root, join(first, 'tmp'));
    await chmod(join(first, 'src'), 0o4777);
    // The sandbox hands the folder to the slot's user.
    await chownTree(first, 61_234, 61_235);

    await folders.release(first);
    assert.equal(existsSync(first), false);
    assert.equal(folders.spareCount, 1);

    const second = join(workDir, 'job-2');
    await folders.create(second);
    assert.equal(lstatSync(second).ino, inode, 'the spare was not reused');
    assertFresh(second);
    assert.equal(folders.spareCount, 0);
    assert.equal(await readFile(outside, 'utf8'), 'keep me\n');
  });

  it('deletes folders beyond the spare limit', async () => {
    const folders = new JobFolders(workDir, 1);
    const jobs = ['job-1', 'job-2'].map((name) => join(workDir, name));
    for (const job of jobs) await folders.create(job);
    for (const job of jobs) await folders.release(job);
    assert.equal(folders.spareCount, 1);
    assert.equal(readdirSync(join(workDir, 'spare')).length, 1);
    for (const job of jobs) assert.equal(existsSync(job), false);

    await folders.removeSpares();
    assert.equal(folders.spareCount, 0);
    assert.deepEqual(readdirSync(join(workDir, 'spare')), []);
  });

  it('skips a spare another worker deleted', async () => {
    const folders = new JobFolders(workDir, 2);
    await folders.create(join(workDir, 'job-1'));
    await folders.release(join(workDir, 'job-1'));
    // Another worker with the same work folder starts, and deletes the spares it finds.
    await new JobFolders(workDir, 2).removeLeftovers();
    assert.equal(existsSync(join(workDir, 'spare')), false);

    await folders.create(join(workDir, 'job-2'));
    assertFresh(join(workDir, 'job-2'));
    assert.equal(folders.spareCount, 0);
  });

  it('replaces a stale folder of the same name', async () => {
    const folders = new JobFolders(workDir, 2);
    const job = join(workDir, 'job-1');
    await mkdir(join(job, 'src'), { recursive: true });
    await writeFile(join(job, 'src', 'stale'), 'x');
    await folders.create(job);
    assertFresh(job);
  });

  describe('with a checkout of a cached tree', () => {
    let tree: string;

    beforeEach(async () => {
      tree = join(root, 'tree');
      await mkdir(join(tree, '.git', 'refs'), { recursive: true });
      await writeFile(join(tree, 'main.sh'), 'echo hi\n', { mode: 0o755 });
      await writeFile(join(tree, '.git', 'HEAD'), 'ref\n');
    });

    /** Makes a job folder whose src is a copy of the tree, and records it as the cache's checkout would. */
    async function checkedOut(folders: JobFolders, jobDir: string): Promise<void> {
      const previous = await folders.create(jobDir);
      if (previous !== tree) await syncFolderTree(tree, join(jobDir, 'src'), workerOwner(), new AbortController().signal);
      folders.keepTree(jobDir, tree);
    }

    it('keeps the checkout, set back to the tree, for the next job', async () => {
      const folders = new JobFolders(workDir, 2);
      const first = join(workDir, 'job-1');
      await checkedOut(folders, first);
      const src = join(first, 'src');
      await writeFile(join(src, 'main.sh'), 'echo changed\n');
      await writeFile(join(src, 'output.txt'), 'built');
      await rm(join(src, '.git'), { recursive: true });
      await writeFile(join(first, 'home', '.history'), 'x');
      await chownTree(first, 61_234, 61_235);
      await folders.release(first);

      const second = join(workDir, 'job-2');
      assert.equal(await folders.create(second), tree);
      assert.deepEqual(await describeTree(join(second, 'src')), await describeTree(tree));
      assert.equal(lstatSync(join(second, 'src', 'main.sh')).uid, process.getuid!());
      assert.deepEqual(readdirSync(join(second, 'home')), []);
      assert.deepEqual(readdirSync(join(second, 'tmp')), []);
    });

    it('empties src when the tree is gone or none was recorded', async () => {
      const folders = new JobFolders(workDir, 2);
      await checkedOut(folders, join(workDir, 'job-1'));
      // The cache evicted the tree while the job ran.
      await rm(tree, { recursive: true });
      await folders.release(join(workDir, 'job-1'));
      assert.equal(await folders.create(join(workDir, 'job-2')), undefined);
      assertFresh(join(workDir, 'job-2'));

      await mkdir(join(tree, '.git'), { recursive: true });
      await checkedOut(folders, join(workDir, 'job-3'));
      // A checkout that failed half way records no tree.
      folders.keepTree(join(workDir, 'job-3'), undefined);
      await folders.release(join(workDir, 'job-3'));
      assert.equal(await folders.create(join(workDir, 'job-4')), undefined);
      assertFresh(join(workDir, 'job-4'));

      // A folder left in place for the operator (WORKER_KEEP_JOB_DIRS) is forgotten.
      await checkedOut(folders, join(workDir, 'job-5'));
      folders.leave(join(workDir, 'job-5'));
      await folders.release(join(workDir, 'job-5'));
      assert.equal(await folders.create(join(workDir, 'job-6')), undefined);
      assertFresh(join(workDir, 'job-6'));
    });
  });
});
