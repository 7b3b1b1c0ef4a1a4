import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRepository, type CreatedRepository } from './git-repositories.js';
import { startGitHttpServer, type GitHttpServer } from './git-http-server.js';

const execFileAsync = promisify(execFile);

// The client ignores the user's git config and fails instead of prompting for credentials.
const clientEnvironment = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
};

async function git(args: string[], cwd?: string): Promise<string> {
  const { stdout } = await execFileAsync('git', args, { cwd, env: clientEnvironment, timeout: 30_000 });
  return stdout.trim();
}

describe('git HTTP server', () => {
  let root: string;
  let workFolder: string;
  let server: GitHttpServer;
  let repository: CreatedRepository;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-git-root-'));
    workFolder = await mkdtemp(join(tmpdir(), 'faas-git-work-'));
    repository = await createRepository(
      root,
      'hello',
      {
        'main.sh': { content: '#!/bin/sh\necho main branch\n', mode: 0o755 },
        'docs/notes.txt': 'notes on main\n',
      },
      {
        tags: ['v1.0.0'],
        extraBranches: { feature: { 'main.sh': { content: '#!/bin/sh\necho feature branch\n', mode: 0o755 } } },
      },
    );
    server = await startGitHttpServer(root);
  });

  after(async () => {
    await server.stop();
    await rm(root, { recursive: true, force: true });
    await rm(workFolder, { recursive: true, force: true });
  });

  it('builds repository URLs on loopback', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server.repositoryUrl('hello'), `${server.url}/hello.git`);
  });

  it('clones the default branch', async () => {
    const target = join(workFolder, 'clone-default');

    await git(['clone', '--quiet', server.repositoryUrl('hello'), target]);

    assert.equal(await readFile(join(target, 'main.sh'), 'utf8'), '#!/bin/sh\necho main branch\n');
    assert.equal(await readFile(join(target, 'docs/notes.txt'), 'utf8'), 'notes on main\n');
    assert.equal(await git(['rev-parse', 'HEAD'], target), repository.commitSha);
    assert.equal(await git(['branch', '--show-current'], target), 'main');
    const { mode } = await stat(join(target, 'main.sh'));
    assert.notEqual(mode & 0o100, 0, 'main.sh lost its executable bit');
  });

  it('clones the extra branch shallowly', async () => {
    const target = join(workFolder, 'clone-feature');

    await git(['clone', '--quiet', '--depth', '1', '--branch', 'feature', server.repositoryUrl('hello'), target]);

    assert.equal(await readFile(join(target, 'main.sh'), 'utf8'), '#!/bin/sh\necho feature branch\n');
    assert.notEqual(await git(['rev-parse', 'HEAD'], target), repository.commitSha);
  });

  it('clones a tag', async () => {
    const target = join(workFolder, 'clone-tag');

    await git(['clone', '--quiet', '--depth', '1', '--branch', 'v1.0.0', server.repositoryUrl('hello'), target]);

    assert.equal(await git(['rev-parse', 'HEAD'], target), repository.commitSha);
  });

  it('lists branches and tags with ls-remote', async () => {
    const refs = await git(['ls-remote', server.repositoryUrl('hello')]);

    assert.match(refs, new RegExp(`^${repository.commitSha}\\s+HEAD$`, 'm'));
    assert.match(refs, new RegExp(`^${repository.commitSha}\\s+refs/heads/main$`, 'm'));
    assert.match(refs, /^[0-9a-f]{40}\s+refs\/heads\/feature$/m);
    assert.match(refs, new RegExp(`^${repository.commitSha}\\s+refs/tags/v1\\.0\\.0$`, 'm'));
  });

  it('fetches a commit by full SHA', async () => {
    const target = join(workFolder, 'fetch-sha');
    await git(['init', '--quiet', target]);
    await git(['remote', 'add', 'origin', server.repositoryUrl('hello')], target);

    await git(['fetch', '--quiet', '--depth', '1', 'origin', repository.commitSha], target);
    await git(['checkout', '--quiet', 'FETCH_HEAD'], target);

    assert.equal(await git(['rev-parse', 'HEAD'], target), repository.commitSha);
    assert.equal(await readFile(join(target, 'main.sh'), 'utf8'), '#!/bin/sh\necho main branch\n');
  });

  it('fails to clone a missing repository', async () => {
    const target = join(workFolder, 'clone-missing');

    await assert.rejects(git(['clone', '--quiet', server.repositoryUrl('missing'), target]), /not found/);
  });

  it('returns 404 for a missing repository', async () => {
    const response = await fetch(`${server.repositoryUrl('missing')}/info/refs?service=git-upload-pack`);
    await response.body?.cancel();

    assert.equal(response.status, 404);
  });

  it('rejects paths with ..', async () => {
    // A URL string would have its ".." resolved by the client, so the path goes in as written.
    const { port } = new URL(server.url);
    const path = '/hello.git/../../info/refs?service=git-upload-pack';
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest({ host: '127.0.0.1', port, path }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.once('error', reject);
      request.end();
    });

    assert.equal(status, 400);
  });

  it('rejects a push', async () => {
    const target = join(workFolder, 'push');
    await git(['clone', '--quiet', server.repositoryUrl('hello'), target]);
    await git(['-c', 'user.name=test', '-c', 'user.email=test@localhost', 'commit', '--quiet', '--allow-empty', '-m', 'x'], target);

    await assert.rejects(git(['push', '--quiet', 'origin', 'HEAD:main'], target));

    const refs = await git(['ls-remote', server.repositoryUrl('hello'), 'refs/heads/main']);
    assert.match(refs, new RegExp(`^${repository.commitSha}\\s`));
  });
});
