import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyTree, inProcessCopyBytes } from './repo-cache-store.js';

/** Lists a folder as "path mode [-> target | content]" lines, for comparing two copies. */
async function describeTree(root: string, relative = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(join(root, relative))).sort()) {
    const path = join(relative, name);
    const info = await lstat(join(root, path));
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isSymbolicLink()) lines.push(`${path} link -> ${await readlink(join(root, path))}`);
    else if (info.isDirectory()) lines.push(`${path}/ ${mode}`, ...(await describeTree(root, path)));
    else lines.push(`${path} ${mode} ${await readFile(join(root, path), 'utf8')}`);
  }
  return lines;
}

describe('copyTree', () => {
  let root: string;
  let source: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-copy-tree-'));
    source = join(root, 'source');
    await mkdir(join(source, 'src', 'empty'), { recursive: true });
    await writeFile(join(source, 'main.sh'), 'echo hi\n', { mode: 0o755 });
    await writeFile(join(source, 'src', 'data.txt'), 'data\n', { mode: 0o644 });
    await writeFile(join(source, 'private'), 'secret\n', { mode: 0o600 });
    await symlink('/etc/passwd', join(source, 'outside'));
    await symlink('src/data.txt', join(source, 'inside'));
    await chmod(join(source, 'src'), 0o750);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('copies alike in process and with cp', async () => {
    const expected = await describeTree(source);
    assert.ok(expected.includes('outside link -> /etc/passwd'));
    assert.ok(expected.includes('main.sh 755 echo hi\n'));

    await copyTree(source, join(root, 'small'), 0, new AbortController().signal);
    await copyTree(source, join(root, 'large'), inProcessCopyBytes + 1, new AbortController().signal);
    assert.deepEqual(await describeTree(join(root, 'small')), expected);
    assert.deepEqual(await describeTree(join(root, 'large')), expected);
    assert.equal(((await lstat(join(root, 'small'))).mode & 0o777).toString(8), ((await lstat(source)).mode & 0o777).toString(8));
  });

  it('fills an empty folder and stops on abort', async () => {
    await mkdir(join(root, 'existing'));
    await copyTree(source, join(root, 'existing'), 0, new AbortController().signal);
    assert.deepEqual(await describeTree(join(root, 'existing')), await describeTree(source));

    const controller = new AbortController();
    controller.abort();
    await assert.rejects(copyTree(source, join(root, 'cancelled'), 0, controller.signal), { name: 'AbortError' });
  });
});
