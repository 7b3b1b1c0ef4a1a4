import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, chown, link, lstat, mkdir, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { describeTree } from '../../test/tree-listing.js';
import { chownTree, entriesPerTurn, removeTree, syncFolderTree, workerOwner } from './file-tree.js';

describe('file-tree', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-file-tree-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Builds a tree with more entries than one turn handles, a link out of the tree and a folder without permissions. */
  async function buildTree(top: string): Promise<string> {
    const outside = join(root, 'outside.txt');
    await writeFile(outside, 'keep me\n');
    await mkdir(join(top, 'a', 'b', 'c'), { recursive: true });
    for (let index = 0; index < entriesPerTurn + 10; index++) await writeFile(join(top, 'a', `file-${index}`), `${index}\n`);
    await writeFile(join(top, 'a', 'b', 'c', 'deep.txt'), 'deep\n');
    await symlink(outside, join(top, 'a', 'link'));
    await symlink(join(root, 'missing'), join(top, 'dangling'));
    await mkdir(join(top, 'closed'));
    await writeFile(join(top, 'closed', 'inside'), 'x');
    await chmod(join(top, 'closed'), 0o000);
    return outside;
  }

  it('removes without following links', async () => {
    const top = join(root, 'job');
    const outside = await buildTree(top);
    await removeTree(top);
    assert.equal(existsSync(top), false);
    assert.equal(await readFile(outside, 'utf8'), 'keep me\n');
    await removeTree(top);
  });

  it('removes closed folders as their owner', async () => {
    // Root may open any folder, so the removal runs as the owner: file-tree.ts
    // compiled on its own into the test folder, under setpriv.
    const uid = 61_998;
    const source = await readFile(new URL('./file-tree.ts', import.meta.url), 'utf8');
    const compiled = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    await writeFile(join(root, 'file-tree.mjs'), compiled.outputText);
    await writeFile(join(root, 'remove.mjs'), "import { removeTree } from './file-tree.mjs';\nawait removeTree(process.argv[2]);\n");
    // As in a worker's folder of jobs, the owner may change the folder that contains the tree.
    const work = join(root, 'work');
    await mkdir(work);
    const top = join(work, 'job');
    await buildTree(top);
    await mkdir(join(top, 'read-only', 'inner'), { recursive: true });
    await writeFile(join(top, 'read-only', 'inner', 'file'), 'x');
    await chmod(join(top, 'read-only', 'inner'), 0o500);
    await chmod(join(top, 'read-only'), 0o500);
    await chownTree(work, uid, uid);
    await chmod(root, 0o755);

    const run = spawnSync(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', process.execPath, join(root, 'remove.mjs'), top],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal(existsSync(top), false);
  });

  it('removes a file root and vanishing entries', async () => {
    const file = join(root, 'single');
    await writeFile(file, 'x');
    await removeTree(file);
    assert.equal(existsSync(file), false);

    const top = join(root, 'job');
    await buildTree(top);
    const removal = removeTree(top);
    // This callback runs when the walk yields after its first turn of entries.
    // The walk has listed folder a by then, with folder b in it.
    await new Promise((resolve) => setImmediate(resolve));
    rmSync(join(top, 'a', 'b'), { recursive: true });
    await removal;
    assert.equal(existsSync(top), false);
  });

  it('changes owners, not link targets', async () => {
    const top = join(root, 'job');
    const outside = await buildTree(top);
    await chownTree(top, 61234, 61235);
    for (const path of [top, join(top, 'a', 'file-0'), join(top, 'a', 'b', 'c', 'deep.txt'), join(top, 'a', 'link'), join(top, 'closed', 'inside')]) {
      const info = await lstat(path);
      assert.deepEqual([info.uid, info.gid], [61234, 61235], path);
    }
    assert.equal((await lstat(outside)).uid, process.getuid!());
  });

  it('copies more entries than one turn', async () => {
    const top = join(root, 'job');
    await buildTree(top);
    await chmod(join(top, 'closed'), 0o700);
    await syncFolderTree(top, join(root, 'copy'), workerOwner(), new AbortController().signal);
    assert.equal(await readFile(join(root, 'copy', 'a', `file-${entriesPerTurn + 9}`), 'utf8'), `${entriesPerTurn + 9}\n`);
    assert.equal(await readFile(join(root, 'copy', 'a', 'b', 'c', 'deep.txt'), 'utf8'), 'deep\n');
    assert.equal((await lstat(join(root, 'copy', 'a', 'link'))).isSymbolicLink(), true);
    assert.equal((await lstat(join(root, 'copy', 'closed'))).mode & 0o777, 0o700);
  });

  it('brings a changed copy back to its source, in place', async () => {
    const source = join(root, 'source');
    await mkdir(join(source, 'dir', 'sub'), { recursive: true });
    for (const name of ['same', 'longer', 'shorter', 'mode', 'gone', 'linked', 'to-link', 'to-folder', 'fifo']) {
      await writeFile(join(source, 'dir', name), `${name} content\n`, { mode: 0o644 });
    }
    await writeFile(join(source, 'run.sh'), 'echo hi\n', { mode: 0o755 });
    await writeFile(join(source, 'folder-to-file'), 'x');
    await mkdir(join(source, 'file-to-folder'));
    await symlink('dir/same', join(source, 'moved-link'));
    const copy = join(root, 'copy');
    await syncFolderTree(source, copy, workerOwner(), new AbortController().signal);
    const expected = await describeTree(source);
    assert.deepEqual(await describeTree(copy), expected);
    // A new file can get the inode number of a deleted one, but not its birth time.
    const inode = async (path: string) => {
      const info = await lstat(join(copy, path), { bigint: true });
      return `${info.ino} born ${info.birthtimeNs}`;
    };
    const inodes = new Map<string, string>();
    for (const path of ['dir', 'dir/sub', 'dir/same', 'dir/longer', 'dir/shorter', 'dir/mode', 'run.sh']) inodes.set(path, await inode(path));

    // What a job may do to its checkout, including tricks against the next copy into it.
    const outside = join(root, 'outside.txt');
    await writeFile(outside, 'keep me\n');
    const dir = join(copy, 'dir');
    await writeFile(join(dir, 'longer'), 'longer content and then some more\n');
    await writeFile(join(dir, 'shorter'), 'short\n');
    await chmod(join(dir, 'mode'), 0o4777);
    await rm(join(dir, 'gone'));
    // A name of the copy that is a hard link of a file outside it: rewriting it would change that file.
    await rm(join(dir, 'linked'));
    await link(outside, join(dir, 'linked'));
    await rm(join(dir, 'to-link'));
    await symlink(outside, join(dir, 'to-link'));
    await rm(join(dir, 'to-folder'));
    await mkdir(join(dir, 'to-folder', 'deeper'), { recursive: true });
    await unlink(join(copy, 'moved-link'));
    await symlink(outside, join(copy, 'moved-link'));
    await rm(join(copy, 'file-to-folder'), { recursive: true });
    await writeFile(join(copy, 'file-to-folder'), 'now a file');
    await rm(join(copy, 'folder-to-file'));
    await mkdir(join(copy, 'folder-to-file'));
    await writeFile(join(copy, 'folder-to-file', 'inside'), 'x');
    await mkdir(join(dir, 'sub', 'output'), { recursive: true });
    await writeFile(join(dir, 'sub', 'output', 'build.o'), 'object');
    await writeFile(join(copy, 'extra'), 'x');
    await rm(join(dir, 'fifo'));
    assert.equal(spawnSync('mkfifo', [join(dir, 'fifo')]).status, 0);
    await chownTree(copy, 61_234, 61_235);

    await syncFolderTree(source, copy, workerOwner(), new AbortController().signal);
    assert.deepEqual(await describeTree(copy), expected);
    assert.equal(await readFile(outside, 'utf8'), 'keep me\n');
    for (const [path, before] of inodes) assert.equal(await inode(path), before, `${path} was made again`);
    for (const path of ['', 'dir', 'dir/longer', 'dir/linked', 'moved-link', 'file-to-folder']) {
      const info = await lstat(join(copy, path));
      assert.deepEqual([info.uid, info.gid], [process.getuid!(), process.getgid!()], path);
    }
  });

  it('replaces a destination that is not a folder', async () => {
    const source = join(root, 'source');
    await mkdir(source);
    await writeFile(join(source, 'file'), 'x');
    const outside = join(root, 'outside');
    await mkdir(outside);
    const copy = join(root, 'copy');
    await symlink(outside, copy);
    await syncFolderTree(source, copy, workerOwner(), new AbortController().signal);
    assert.ok((await lstat(copy)).isDirectory());
    assert.deepEqual(await describeTree(copy), await describeTree(source));
    assert.equal(existsSync(join(outside, 'file')), false);
  });
});
