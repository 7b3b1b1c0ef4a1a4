import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GitError } from 'simple-git';
import { createLogger } from '../../common/logger.js';
import { startGitHttpServer, type GitHttpServer } from '../../dev/git-http-server.js';
import { createRepository } from '../../dev/git-repositories.js';
import { CloneError, classifyGitError, cloneRepository } from './clone.js';
import { RepoCache } from './repo-cache.js';

const run = promisify(execFile);

describe('classifyGitError', () => {
  const url = 'http://127.0.0.1:1/r.git';
  const cases: Array<[string, string, RegExp]> = [
    ["fatal: couldn't find remote ref nope", 'ref-not-found', /ref "nope" was not found in \S+$/],
    ['fatal: Authentication failed for ...', 'authentication-required', /requires authentication/],
    ["fatal: could not read Username for 'https://host': terminal prompts disabled", 'authentication-required', /requires authentication/],
    ['fatal: repository \'http://127.0.0.1:1/r.git/\' not found', 'repository-not-found', /was not found/],
    ['fatal: unable to access: Failed to connect to 127.0.0.1 port 1', 'network', /could not fetch .*Failed to connect/],
    [
      "fatal: unable to access 'http://127.0.0.1:1/r.git/': Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server",
      'network',
      /^could not fetch http:\/\/127\.0\.0\.1:1\/r\.git: Failed to connect to 127\.0\.0\.1 port 1 after 0 ms: Couldn't connect to server$/,
    ],
  ];
  for (const [output, failure, message] of cases) {
    it(`classifies ${failure}: ${output.slice(0, 30)}`, () => {
      const error = classifyGitError(new GitError(undefined, output), url, 'nope');
      assert.equal(error.failure, failure);
      assert.match(error.message, message);
    });
  }
});

describe('cloneRepository', function () {
  this.timeout(60_000);
  const MiB = 1024 * 1024;
  let root: string;
  let git: GitHttpServer;
  let cache: RepoCache;
  let url: string;
  let commitSha: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-clone-'));
    git = await startGitHttpServer(join(root, 'repos'));
    const files = { 'main.sh': 'echo main\n', 'big.txt': 'x'.repeat(2 * MiB) };
    const created = await createRepository(join(root, 'repos'), 'r', files, { tags: ['v1'], extraBranches: { feature: { 'main.sh': 'echo feature\n' } } });
    url = git.repositoryUrl('r');
    commitSha = created.commitSha;
    cache = await RepoCache.open({
      dir: join(root, 'cache'),
      maxBytes: 256 * MiB,
      accessPolicy: { allowHttp: true, allowedAddresses: ['127.0.0.0/8'] },
      log: createLogger('test', 'silent'),
    });
  });
  after(async () => {
    await cache?.close();
    await git?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const clone = (ref: string, withCache: boolean, maxBytes = 64 * MiB) => {
    const dir = join(root, 'jobs', randomBytes(6).toString('hex'));
    const options = { url, ref, dir, timeoutMs: 20_000, allowHttp: true, signal: new AbortController().signal, maxBytes };
    return cloneRepository({ ...options, addressPolicy: { allow: ['127.0.0.0/8'] }, cache: withCache ? cache : undefined }).then(({ commitSha }) => ({ sha: commitSha, dir }));
  };

  /** Returns what a job can see of its checkout's git state. */
  const describeCheckout = async (dir: string) => {
    const gitOutput = async (args: string[]) => (await run('git', ['-C', dir, ...args], { env: { PATH: process.env.PATH, HOME: dir } })).stdout.trim();
    return {
      head: await gitOutput(['rev-parse', 'HEAD']),
      origin: await gitOutput(['remote', 'get-url', 'origin']),
      shallow: await gitOutput(['rev-parse', '--is-shallow-repository']),
      status: await gitOutput(['status', '--porcelain']),
      files: (await readdir(dir)).sort(),
      main: await readFile(join(dir, 'main.sh'), 'utf8'),
    };
  };

  for (const ref of ['', 'main', 'v1', 'feature', 'commit']) {
    it(`checks out ${ref || 'HEAD'} alike with and without cache`, async () => {
      const requestedRef = ref === 'commit' ? commitSha : ref;
      const fresh = await clone(requestedRef, false);
      const cached = await clone(requestedRef, true);
      assert.equal(cached.sha, fresh.sha);
      if (ref !== 'feature') assert.equal(fresh.sha, commitSha);
      assert.deepEqual(await describeCheckout(cached.dir), await describeCheckout(fresh.dir));
    });
  }

  it('stops a fetch past the size cap', async () => {
    for (const withCache of [false, true]) {
      await assert.rejects(clone('main', withCache, MiB), (error: unknown) => error instanceof CloneError && error.failure === 'too-large');
    }
  });
});
