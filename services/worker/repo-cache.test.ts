import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createLogger } from '../../common/logger.js';
import { startGitHttpServer, type GitHttpServer } from '../../dev/git-http-server.js';
import { createRepository, type CreateRepositoryOptions, type RepositoryFiles } from '../../dev/git-repositories.js';
import { CountingProxy } from '../../test/counting-proxy.js';
import { CloneError } from './clone.js';
import { RepoCache, type CheckoutRequest } from './repo-cache.js';
import { measureDiskUsage } from './sandbox/disk.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

describe('RepoCache', function () {
  this.timeout(60_000);
  const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
  let root: string;
  let git: GitHttpServer;
  const proxy = new CountingProxy();
  let cacheDir: string;
  let cache: RepoCache | undefined;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-repo-cache-'));
    git = await startGitHttpServer(join(root, 'repos'));
    await proxy.start(git.url);
  });
  after(async () => {
    await proxy.stop();
    await git?.stop();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    cacheDir = join(root, `cache-${randomBytes(4).toString('hex')}`);
    proxy.reset();
  });
  afterEach(async () => {
    await cache?.close();
    cache = undefined;
  });

  const openCache = async (maxBytes = 256 * MiB, allowedAddresses = ['127.0.0.0/8'], refReuseMs = 0) => {
    cache = await RepoCache.open({ dir: cacheDir, maxBytes, refReuseMs, accessPolicy: { allowHttp: true, allowedAddresses }, log });
    return cache;
  };

  const repository = async (files: RepositoryFiles, options?: CreateRepositoryOptions) => {
    const name = `repo-${randomBytes(4).toString('hex')}`;
    const created = await createRepository(join(root, 'repos'), name, files, options);
    return { ...created, url: `${proxy.url}/${name}.git` };
  };

  const request = (url: string, ref: string, overrides: Partial<CheckoutRequest> = {}): CheckoutRequest => ({
    url,
    ref,
    timeoutMs: 20_000,
    allowHttp: true,
    addressPolicy: { allow: ['127.0.0.0/8'] },
    maxBytes: 64 * MiB,
    signal: new AbortController().signal,
    ...overrides,
  });

  /** Checks `ref` out into a new job folder and returns the folder with the result. */
  const checkout = async (target: RepoCache, url: string, ref: string, overrides: Partial<CheckoutRequest> = {}) => {
    const dir = join(root, 'jobs', randomBytes(6).toString('hex'), 'src');
    const result = await target.checkout(request(url, ref, overrides), dir);
    return { ...result, dir, main: await readFile(join(dir, 'main.sh'), 'utf8') };
  };

  const gitOutput = async (dir: string, args: string[]) => (await run('git', ['-C', dir, ...args], { env: { PATH: process.env.PATH, HOME: dir } })).stdout.trim();

  it('fetches once, then serves the commit offline', async () => {
    const repo = await repository({ 'main.sh': 'echo one\n' });
    const opened = await openCache();

    const first = await checkout(opened, repo.url, 'main');
    assert.equal(first.commitSha, repo.commitSha);
    assert.equal(first.fetched, true);
    assert.equal(first.main, 'echo one\n');
    assert.ok(proxy.connections() > 0, 'the first checkout did not fetch');
    assert.equal(await gitOutput(first.dir, ['rev-parse', 'HEAD']), repo.commitSha);
    assert.equal(await gitOutput(first.dir, ['remote', 'get-url', 'origin']), repo.url);

    proxy.reset();
    const second = await checkout(opened, repo.url, repo.commitSha);
    assert.equal(second.commitSha, repo.commitSha);
    assert.equal(second.fetched, false);
    assert.equal(second.main, 'echo one\n');
    assert.deepEqual(proxy.requests, []);
  });

  it('reuses lookups for earlier submissions', async () => {
    const repo = await repository({ 'main.sh': 'echo main\n' }, { extraBranches: { next: { 'main.sh': 'echo next\n' } } });
    const nextSha = (await run('git', ['--git-dir', repo.path, 'rev-parse', 'next'])).stdout.trim();
    const opened = await openCache(256 * MiB, ['127.0.0.0/8'], 60_000);
    const submittedEarly = Date.now() - 1;
    assert.equal((await checkout(opened, repo.url, 'main', { submittedAtMs: submittedEarly })).main, 'echo main\n');

    proxy.reset();
    const reused = await checkout(opened, repo.url, 'main', { submittedAtMs: submittedEarly });
    assert.equal(reused.commitSha, repo.commitSha);
    assert.equal(proxy.requests.length, 0, `a job submitted before the lookup looked the ref up again: ${proxy.requests.join(', ')}`);

    // The branch moves; a job submitted after that must see it, and so must a job that gives no submission time.
    await run('git', ['--git-dir', repo.path, 'update-ref', 'refs/heads/main', nextSha]);
    const submittedLater = Date.now() + 1;
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal((await checkout(opened, repo.url, 'main', { submittedAtMs: submittedLater })).commitSha, nextSha);
    await run('git', ['--git-dir', repo.path, 'update-ref', 'refs/heads/main', repo.commitSha]);
    assert.equal((await checkout(opened, repo.url, 'main')).commitSha, repo.commitSha);
  });

  it('looks up every job without reuse', async () => {
    const repo = await repository({ 'main.sh': 'echo main\n' });
    const opened = await openCache();
    const submittedAtMs = Date.now() - 1;
    await checkout(opened, repo.url, 'main', { submittedAtMs });
    proxy.reset();
    await checkout(opened, repo.url, 'main', { submittedAtMs });
    assert.equal(proxy.requests.length, 1, `requests: ${proxy.requests.join(', ')}`);
  });

  it('looks a branch up again and sees it move', async () => {
    const repo = await repository({ 'main.sh': 'echo main\n' }, { extraBranches: { next: { 'main.sh': 'echo next\n' } } });
    const nextSha = (await run('git', ['--git-dir', repo.path, 'rev-parse', 'next'])).stdout.trim();
    const opened = await openCache();

    assert.equal((await checkout(opened, repo.url, 'main')).main, 'echo main\n');
    proxy.reset();
    const again = await checkout(opened, repo.url, 'main');
    assert.equal(again.main, 'echo main\n');
    assert.equal(again.fetched, false);
    // One ls-refs request from the worker itself; git would have sent GET info/refs first.
    assert.equal(proxy.requests.length, 1, `the unchanged branch was not looked up with one request: ${proxy.requests.join(', ')}`);
    assert.match(proxy.requests[0], /^POST \S+\/git-upload-pack$/);
    assert.equal(opened.usage().trees, 1, 'the unchanged commit was extracted twice');

    await run('git', ['--git-dir', repo.path, 'update-ref', 'refs/heads/main', nextSha]);
    const moved = await checkout(opened, repo.url, 'main');
    assert.equal(moved.commitSha, nextSha);
    assert.equal(moved.fetched, true);
    assert.equal(moved.main, 'echo next\n');
  });

  it('resolves refs as git fetch does', async () => {
    const repo = await repository({ 'main.sh': 'echo main\n' }, { extraBranches: { 'topic/main': { 'main.sh': 'echo topic\n' } } });
    await run('git', ['--git-dir', repo.path, '-c', 'user.name=faas', '-c', 'user.email=faas@localhost', 'tag', '-a', 'v2', '-m', 'annotated', 'topic/main']);
    const topicSha = (await run('git', ['--git-dir', repo.path, 'rev-parse', 'topic/main'])).stdout.trim();
    const opened = await openCache();

    const cases: Array<[string, string, string]> = [
      ['main', repo.commitSha, 'echo main\n'],
      ['refs/heads/main', repo.commitSha, 'echo main\n'],
      ['heads/topic/main', topicSha, 'echo topic\n'],
      ['v2', topicSha, 'echo topic\n'],
      ['', repo.commitSha, 'echo main\n'],
    ];
    for (const [ref, commitSha, main] of cases) {
      const result = await checkout(opened, repo.url, ref);
      assert.equal(result.commitSha, commitSha, `ref "${ref}"`);
      assert.equal(result.main, main, `ref "${ref}"`);
    }
    // The annotated tag was fetched once and is peeled from the mirror afterwards.
    proxy.reset();
    assert.equal((await checkout(opened, repo.url, 'v2')).fetched, false);
  });

  it('keeps commits of one repository apart', async () => {
    const repo = await repository({ 'main.sh': 'echo a\n' }, { tags: ['v1'], extraBranches: { b: { 'main.sh': 'echo b\n' } } });
    const opened = await openCache();
    const a = await checkout(opened, repo.url, 'v1');
    const b = await checkout(opened, repo.url, 'b');
    assert.notEqual(a.commitSha, b.commitSha);
    assert.deepEqual(opened.usage().mirrors, 1);
    assert.deepEqual(opened.usage().trees, 2);

    proxy.reset();
    assert.equal((await checkout(opened, repo.url, a.commitSha)).main, 'echo a\n');
    assert.equal((await checkout(opened, repo.url, b.commitSha.toUpperCase())).main, 'echo b\n');
    assert.deepEqual(proxy.requests, []);
  });

  it('fetches once for four concurrent jobs', async () => {
    const single = await repository({ 'main.sh': 'echo single\n' });
    const shared = await repository({ 'main.sh': 'echo shared\n' });
    const other = await repository({ 'main.sh': 'echo other\n' });
    const opened = await openCache();
    const requestsOf = (name: string) => proxy.requests.filter((line) => line.includes(`/${name}.git/`)).length;
    await checkout(opened, single.url, 'main');
    assert.ok(requestsOf(single.name) > 0);

    const results = await Promise.all([
      ...Array.from({ length: 4 }, () => checkout(opened, shared.url, 'main')),
      checkout(opened, other.url, other.commitSha),
    ]);
    for (const result of results.slice(0, 4)) assert.equal(result.main, 'echo shared\n');
    assert.equal(results[4].main, 'echo other\n');
    assert.equal(requestsOf(shared.name), requestsOf(single.name), 'four jobs made more requests than one');
    assert.equal(opened.usage().mirrors, 3);
    assert.equal(opened.usage().trees, 3);
  });

  it('lets the other jobs finish when one is cancelled', async () => {
    const repo = await repository({ 'main.sh': 'echo stays\n' });
    const opened = await openCache();
    const controller = new AbortController();
    const cancelled = checkout(opened, repo.url, 'main', { signal: controller.signal });
    const remaining = checkout(opened, repo.url, 'main');
    controller.abort();
    await assert.rejects(cancelled, (error: unknown) => error instanceof CloneError && error.failure === 'cancelled');
    assert.equal((await remaining).main, 'echo stays\n');
  });

  it('evicts the least recently used entries', async () => {
    const repos = [
      await repository({ 'main.sh': 'echo 0\n' }),
      await repository({ 'main.sh': 'echo 1\n' }),
      await repository({ 'main.sh': 'echo 2\n' }),
    ];
    const first = await openCache();
    for (const repo of repos) await checkout(first, repo.url, 'main');
    // The first repository's tree becomes the most recently used entry.
    const lease = await first.acquire(request(repos[0].url, repos[0].commitSha));
    lease.release();
    const treeBytes = (await measureDiskUsage(lease.treeDir)).bytes;
    await first.close();

    // Reopened with room for one tree, the cache keeps the one used last, by the times recorded on disk.
    const second = await openCache(treeBytes);
    await second.idle();
    assert.deepEqual(second.usage(), { bytes: treeBytes, mirrors: 0, trees: 1 });
    assert.ok(existsSync(lease.treeDir), 'the most recently used tree was evicted');
    proxy.reset();
    assert.equal((await checkout(second, repos[0].url, repos[0].commitSha)).main, 'echo 0\n');
    assert.deepEqual(proxy.requests, []);
  });

  it('spares a tree in use from eviction', async () => {
    const inUse = await repository({ 'main.sh': 'echo in use\n' });
    const other = await repository({ 'main.sh': 'echo other\n' });
    const opened = await openCache(1);
    const lease = await opened.acquire(request(inUse.url, 'main'));

    await checkout(opened, other.url, 'main');
    await opened.idle();
    assert.equal(await readFile(join(lease.treeDir, 'main.sh'), 'utf8'), 'echo in use\n');
    assert.equal(opened.usage().trees, 1);
    assert.equal(opened.usage().mirrors, 0);

    lease.release();
    await opened.idle();
    assert.equal(existsSync(lease.treeDir), false, 'the released tree stayed past the size bound');
    assert.deepEqual(opened.usage(), { bytes: 0, mirrors: 0, trees: 0 });
  });

  it('recovers from entries left half written', async () => {
    const repo = await repository({ 'main.sh': 'echo whole\n' }, { extraBranches: { next: { 'main.sh': 'echo next\n' } } });
    const first = await openCache();
    await checkout(first, repo.url, 'main');
    const folder = first.dir;
    await first.close();

    // What a crash can leave: a tree still being written, a mirror whose git was killed, a mirror created halfway.
    const [mirror] = await readdir(join(folder, 'mirrors'));
    await mkdir(join(folder, 'tmp', 'tree-0123456789abcdef', 'src'), { recursive: true });
    await writeFile(join(folder, 'tmp', 'tree-0123456789abcdef', 'src', 'half'), 'x');
    await writeFile(join(folder, 'mirrors', mirror, 'shallow.lock'), '');
    await mkdir(join(folder, 'mirrors', `${'0'.repeat(32)}.git`, 'objects'), { recursive: true });
    await mkdir(join(folder, 'trees', 'not-an-entry'));

    const second = await openCache();
    assert.equal(second.dir, folder);
    assert.deepEqual(await readdir(join(folder, 'tmp')), []);
    assert.deepEqual(await readdir(join(folder, 'mirrors')), []);
    assert.equal((await readdir(join(folder, 'trees'))).length, 1);

    proxy.reset();
    assert.equal((await checkout(second, repo.url, repo.commitSha)).main, 'echo whole\n');
    assert.deepEqual(proxy.requests, [], 'the complete tree was not kept');
    // The discarded mirror is made again for the next fetch.
    await run('git', ['--git-dir', repo.path, 'update-ref', 'refs/heads/main', 'refs/heads/next']);
    const refetched = await checkout(second, repo.url, 'main');
    assert.equal(refetched.main, 'echo next\n');
    assert.equal(refetched.fetched, true);
    assert.equal(second.usage().mirrors, 1);
  });

  it('replaces a mirror with a damaged pack', async () => {
    const repo = await repository({ 'main.sh': 'echo repaired\n' });
    const lines: string[] = [];
    const capture = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const first = await openCache();
    await checkout(first, repo.url, 'main');
    const folder = first.dir;
    await first.close();

    const [mirror] = await readdir(join(folder, 'mirrors'));
    const packs = join(folder, 'mirrors', mirror, 'objects', 'pack');
    const pack = (await readdir(packs)).find((name) => name.endsWith('.pack'))!;
    const file = await open(join(packs, pack), 'r+');
    // The pack contains the commit, its tree and the blob, in that order. Damage the end of the blob, before the 20-byte checksum.
    const { size } = await file.stat();
    await file.write(Buffer.alloc(8, 0xff), 0, 8, size - 28);
    await file.close();
    for (const tree of await readdir(join(folder, 'trees'))) await rm(join(folder, 'trees', tree), { recursive: true });

    cache = await RepoCache.open({ dir: cacheDir, maxBytes: 256 * MiB, accessPolicy: { allowHttp: true, allowedAddresses: ['127.0.0.0/8'] }, log: capture });
    proxy.reset();
    const result = await checkout(cache, repo.url, repo.commitSha);
    assert.equal(result.main, 'echo repaired\n');
    assert.equal(result.fetched, true);
    assert.ok(proxy.connections() > 0, 'the commit was not fetched again');
    assert.ok(lines.some((line) => line.includes('discarding a repository mirror')), 'the damaged mirror was not discarded');
  });

  it('keeps the address guard, size cap and ref checks', async () => {
    const repo = await repository({ 'main.sh': 'echo guarded\n', 'big.txt': randomBytes(3 * MiB).toString('base64') });
    const opened = await openCache(256 * MiB, []);
    const failure = async (ref: string, overrides: Partial<CheckoutRequest>) => {
      try {
        await checkout(opened, repo.url, ref, overrides);
      } catch (error) {
        assert.ok(error instanceof CloneError, String(error));
        return error;
      }
      assert.fail(`checking out ${ref} succeeded`);
    };

    const rejected = await failure('main', { addressPolicy: { allow: [] } });
    assert.equal(rejected.failure, 'address-not-allowed');
    assert.match(rejected.message, /loopback/);
    assert.deepEqual(proxy.requests, []);

    const large = await failure('main', { maxBytes: MiB });
    assert.equal(large.failure, 'too-large');
    assert.match(large.message, /1048576-byte limit/);

    const missing = await failure('no-such-branch', {});
    assert.equal(missing.failure, 'ref-not-found');
    assert.match(missing.message, /ref "no-such-branch" was not found in \S+$/);
    const abbreviated = await failure('59a1087', {});
    assert.equal(abbreviated.failure, 'ref-not-found');
    assert.match(abbreviated.message, /ref "59a1087" was not found in \S+; to run a commit, give its full 40-character id$/);

    assert.equal(opened.usage().trees, 0);
    assert.deepEqual(await readdir(join(opened.dir, 'tmp')), []);
  });

  it('empties itself when the address policy changes', async () => {
    const repo = await repository({ 'main.sh': 'echo policy\n' });
    const first = await openCache(256 * MiB, ['127.0.0.0/8']);
    await checkout(first, repo.url, 'main');
    await first.close();

    const narrower = await openCache(256 * MiB, []);
    assert.deepEqual(narrower.usage(), { bytes: 0, mirrors: 0, trees: 0 });
  });

  it('gives each cache in a process its own folder', async () => {
    const first = await openCache();
    const second = await RepoCache.open({ dir: cacheDir, maxBytes: MiB, accessPolicy: { allowHttp: true, allowedAddresses: [] }, log });
    try {
      assert.notEqual(second.dir, first.dir);
      assert.equal(await readFile(join(second.dir, 'owner.pid'), 'utf8'), `${process.pid}\n`);
    } finally {
      await second.close();
    }
  });
});
