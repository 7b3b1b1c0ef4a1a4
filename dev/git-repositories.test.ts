import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRepository, readFolder } from './git-repositories.js';

const execFileAsync = promisify(execFile);
const examplesFolder = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples');

async function gitOutput(gitDir: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', [`--git-dir=${gitDir}`, ...args]);
  return stdout.trim();
}

describe('git repositories', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-repositories-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates a bare repository with one commit', async () => {
    const created = await createRepository(root, 'app', { 'main.py': 'print(1)\n', 'lib/util.py': 'x = 1\n' });

    assert.equal(created.path, join(root, 'app.git'));
    assert.equal(created.branch, 'main');
    assert.match(created.commitSha, /^[0-9a-f]{40}$/);
    assert.equal(await gitOutput(created.path, ['rev-parse', 'HEAD']), created.commitSha);
    assert.equal(await gitOutput(created.path, ['symbolic-ref', 'HEAD']), 'refs/heads/main');
    assert.equal(await gitOutput(created.path, ['rev-parse', '--is-bare-repository']), 'true');
    assert.equal(await gitOutput(created.path, ['show', 'HEAD:lib/util.py']), 'x = 1');
    assert.equal(await gitOutput(created.path, ['config', 'uploadpack.allowAnySHA1InWant']), 'true');
  });

  it('gives the same commit for the same files', async () => {
    const first = await createRepository(root, 'first', { 'a.txt': 'a\n' });
    const second = await createRepository(root, 'second', { 'a.txt': 'a\n' });

    assert.equal(first.commitSha, second.commitSha);
  });

  it('stores the executable bit', async () => {
    const created = await createRepository(root, 'modes', {
      'run.sh': { content: 'echo hi\n', mode: 0o755 },
      'data.txt': { content: 'plain\n', mode: 0o644 },
      'notes.txt': 'notes\n',
    });

    const tree = await gitOutput(created.path, ['ls-tree', 'HEAD']);
    assert.match(tree, /^100755 blob [0-9a-f]+\trun\.sh$/m);
    assert.match(tree, /^100644 blob [0-9a-f]+\tdata\.txt$/m);
    assert.match(tree, /^100644 blob [0-9a-f]+\tnotes\.txt$/m);
  });

  it('uses the given branch, tags and extra branches', async () => {
    const created = await createRepository(
      root,
      'refs',
      { 'main.sh': 'echo trunk\n' },
      { branch: 'trunk', tags: ['v1', 'release/1.0'], extraBranches: { next: { 'main.sh': 'echo next\n' } } },
    );

    assert.equal(created.branch, 'trunk');
    assert.equal(await gitOutput(created.path, ['symbolic-ref', 'HEAD']), 'refs/heads/trunk');
    assert.equal(await gitOutput(created.path, ['rev-parse', 'v1']), created.commitSha);
    assert.equal(await gitOutput(created.path, ['rev-parse', 'release/1.0']), created.commitSha);
    assert.equal(await gitOutput(created.path, ['show', 'next:main.sh']), 'echo next');
    assert.equal(await gitOutput(created.path, ['rev-parse', 'next^']), created.commitSha);
  });

  it('rejects an existing repository', async () => {
    await createRepository(root, 'twice', { 'a.txt': 'a' });

    await assert.rejects(createRepository(root, 'twice', { 'a.txt': 'b' }), /already exists/);
  });

  it('rejects invalid names and paths', async () => {
    await assert.rejects(createRepository(root, '../escape', { 'a.txt': 'a' }), /Invalid repository name/);
    await assert.rejects(createRepository(root, 'ok', { '../a.txt': 'a' }), /Invalid file path/);
    await assert.rejects(createRepository(root, 'ok', { '.git/config': 'a' }), /Invalid file path/);
    await assert.rejects(createRepository(root, 'ok', { '/abs.txt': 'a' }), /Invalid file path/);
  });

  it('removes the repository when a step fails', async () => {
    await assert.rejects(createRepository(root, 'broken', { 'a.txt': 'a' }, { tags: ['bad tag'] }), /not a valid tag name/);

    assert.equal(existsSync(join(root, 'broken.git')), false);
  });

  it('reads a folder with modes', async () => {
    const folder = join(root, 'source');
    await mkdir(join(folder, 'bin'), { recursive: true });
    await mkdir(join(folder, '.git'));
    await writeFile(join(folder, 'README.md'), '# Demo\n');
    await writeFile(join(folder, 'bin', 'run.sh'), '#!/bin/sh\n');
    await chmod(join(folder, 'bin', 'run.sh'), 0o755);
    await writeFile(join(folder, '.git', 'HEAD'), 'ref: refs/heads/main\n');

    const files = await readFolder(folder);

    assert.deepEqual(files, {
      'README.md': Buffer.from('# Demo\n'),
      'bin/run.sh': { content: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
    });
  });

  it('keeps the bytes of files that are not UTF-8', async () => {
    const folder = join(root, 'binary');
    await mkdir(folder);
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0xe9]);
    await writeFile(join(folder, 'data.bin'), bytes);

    const created = await createRepository(root, 'binary', await readFolder(folder));

    const blob = await new Promise<Buffer>((resolve, reject) => {
      execFile('git', [`--git-dir=${created.path}`, 'cat-file', 'blob', 'HEAD:data.bin'], { encoding: 'buffer' }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      );
    });
    assert.deepEqual(blob, bytes);
  });

  it('rejects symbolic links in a folder', async () => {
    const folder = join(root, 'links');
    await mkdir(folder);
    await writeFile(join(folder, 'target.txt'), 'x');
    await symlink('target.txt', join(folder, 'link.txt'));

    await assert.rejects(readFolder(folder), /Symbolic link .*link\.txt/);
  });

  it('builds a repository from an example folder', async () => {
    const files = await readFolder(join(examplesFolder, 'shell'));
    const created = await createRepository(root, 'shell-example', files);

    const tree = await gitOutput(created.path, ['ls-tree', 'HEAD']);
    assert.match(tree, /^100755 blob [0-9a-f]+\tmain\.sh$/m);
    assert.match(tree, /^100644 blob [0-9a-f]+\tREADME\.md$/m);
  });
});
