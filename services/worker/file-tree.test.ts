import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { chownTree, copyFolderTree, entriesPerTurn, removeTree } from './file-tree.js';

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
    await copyFolderTree(top, join(root, 'copy'), new AbortController().signal);
    assert.equal(await readFile(join(root, 'copy', 'a', `file-${entriesPerTurn + 9}`), 'utf8'), `${entriesPerTurn + 9}\n`);
    assert.equal(await readFile(join(root, 'copy', 'a', 'b', 'c', 'deep.txt'), 'utf8'), 'deep\n');
    assert.equal((await lstat(join(root, 'copy', 'a', 'link'))).isSymbolicLink(), true);
    assert.equal((await lstat(join(root, 'copy', 'closed'))).mode & 0o777, 0o700);
  });
});
