import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describeTree } from '../../test/tree-listing.js';
import { claimCacheFolder, copyTree, inProcessCopyBytes } from './repo-cache-store.js';

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

describe('claimCacheFolder', () => {
  let parent: string;

  beforeEach(async () => {
    parent = await mkdtemp(join(tmpdir(), 'faas-cache-claim-'));
  });
  afterEach(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('gives claims made at the same time different folders', async () => {
    const claims = await Promise.all([1, 2, 3, 4].map(() => claimCacheFolder(parent)));
    try {
      assert.deepEqual(claims.map((claim) => claim.dir).sort(), ['0', '1', '2', '3'].map((name) => join(parent, name)));
      for (const claim of claims) assert.equal(await readFile(join(claim.dir, 'owner.pid'), 'utf8'), `${process.pid}\n`);
      assert.deepEqual((await readdir(join(parent, '0'))).sort(), ['owner.pid']);
    } finally {
      await Promise.all(claims.map((claim) => claim.release()));
    }
  });

  it('takes over the folder of a process that is gone, once', async () => {
    const exitedPid = spawnSync(process.execPath, ['-e', '']).pid;
    await mkdir(join(parent, '0'));
    await writeFile(join(parent, '0', 'owner.pid'), `${exitedPid}\n`);
    const claims = await Promise.all([claimCacheFolder(parent), claimCacheFolder(parent)]);
    try {
      assert.deepEqual(claims.map((claim) => claim.dir).sort(), [join(parent, '0'), join(parent, '1')]);
      assert.equal(await readFile(join(parent, '0', 'owner.pid'), 'utf8'), `${process.pid}\n`);
      assert.deepEqual((await readdir(join(parent, '0'))).sort(), ['owner.pid']);
    } finally {
      await Promise.all(claims.map((claim) => claim.release()));
    }
  });

  it('gives processes that claim at the same moment different folders', async function () {
    this.timeout(30_000);
    const moduleUrl = new URL('./repo-cache-store.ts', import.meta.url).href;
    // Each process waits for a line, claims a folder, prints it and keeps it until its input closes.
    const script = [
      `const { claimCacheFolder } = await import(${JSON.stringify(moduleUrl)});`,
      "const { createInterface } = await import('node:readline');",
      'const lines = createInterface({ input: process.stdin });',
      "console.log('ready');",
      "await new Promise((resolve) => lines.once('line', resolve));",
      `const claim = await claimCacheFolder(${JSON.stringify(parent)});`,
      'console.log(claim.dir);',
      "lines.once('close', () => void claim.release());",
    ].join('\n');
    const children = [1, 2, 3, 4, 5, 6].map(() =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    const outputs = children.map((child) => createInterface({ input: child.stdout! })[Symbol.asyncIterator]());
    const nextLine = async (index: number) => String((await outputs[index].next()).value);
    try {
      for (let index = 0; index < children.length; index++) assert.equal(await nextLine(index), 'ready');
      for (const child of children) child.stdin!.write('go\n');
      const dirs = await Promise.all(children.map((_, index) => nextLine(index)));
      assert.deepEqual(dirs.sort(), ['0', '1', '2', '3', '4', '5'].map((name) => join(parent, name)));
    } finally {
      for (const child of children) child.stdin!.end();
      await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
    }
  });
});
