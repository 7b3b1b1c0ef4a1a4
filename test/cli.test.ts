import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobState } from '../gen/faas/v1/job.js';
import { Mesh } from './harness.js';

const bin = join(resolve(fileURLToPath(new URL('..', import.meta.url))), 'bin', 'faas.js');

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `faas` executable against the mesh's gateway. */
async function faas(mesh: Mesh, args: string[], stdin = ''): Promise<CliRun> {
  const token = await mesh.identity.userToken('alice');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, FAAS_SERVER: mesh.gateway.address, FAAS_TOKEN: token, FAAS_CONFIG_DIR: '/nonexistent/faas-test' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('faas CLI against the mesh', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 1 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('submit --wait streams output and exits with the job exit code', async () => {
    const repo = await mesh.repository({ 'main.sh': 'read line\necho "got $line"\necho warn >&2\nexit 7\n' });
    const run = await faas(mesh, ['submit', repo.url, '--wait', '--input', '-'], 'payload\n');
    assert.equal(run.code, 7, run.stderr);
    assert.equal(run.stdout, 'got payload\n');
    assert.match(run.stderr, /warn/);
  });

  it('submit --wait exits 0 for a succeeded command with arguments', async () => {
    const repo = await mesh.repository({ 'hello.py': 'import os, sys\nprint(os.environ["WHO"], *sys.argv[1:])\n' });
    const run = await faas(mesh, ['submit', repo.url, '--env', 'WHO=cli', '--wait', '--', 'python3', 'hello.py', 'a', 'b']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'cli a b\n');
  });

  it('submit --arg passes arguments to the entrypoint found by convention', async () => {
    const repo = await mesh.repository({ 'main.py': 'import sys\nprint(sys.argv[1:])\n' });
    const run = await faas(mesh, ['submit', repo.url, '--arg', 'x y', '--arg=--z', '--wait']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "['x y', '--z']\n");
  });

  it('submit --wait exits 127 without a program', async () => {
    const repo = await mesh.repository({ 'main.sh': 'true\n' });
    const run = await faas(mesh, ['submit', repo.url, '--wait', '--', 'no-such-program', '--flag']);
    assert.equal(run.code, 127, run.stderr);
    assert.match(run.stderr, /could not start no-such-program: no such program/);
  });

  it('submit --wait with a used key', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo once\n' });
    const args = ['submit', repo.url, '--idempotency-key', 'cli-wait-key', '--wait'];
    const first = await faas(mesh, args);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /^faas: job \S+ submitted$/m);
    const second = await faas(mesh, args);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, 'once\n');
    assert.match(second.stderr, /was submitted earlier with the same idempotency key/);
    assert.doesNotMatch(second.stderr, /^faas: job \S+ submitted$/m);
  });

  it('submit prints an id that status and result read back', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo from-result\n' });
    const submitted = await faas(mesh, ['submit', repo.url]);
    assert.equal(submitted.code, 0, submitted.stderr);
    const jobId = submitted.stdout.trim();
    assert.match(jobId, /^[0-9a-z]{26}$/);

    for await (const job of mesh.client.watch(jobId)) if (job.state === JobState.JOB_STATE_SUCCEEDED) break;
    const status = await faas(mesh, ['status', jobId, '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).job.state, 'JOB_STATE_SUCCEEDED');
    const result = await faas(mesh, ['result', jobId]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'from-result\n');
  });

  it('reports a rejected submit as one line with the status', async () => {
    const run = await faas(mesh, ['submit', 'ftp://example.com/repo.git']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^faas: INVALID_ARGUMENT: REPOSITORY_URL: scheme "ftp" is not supported/);
    assert.equal(run.stderr.trim().split('\n').length, 1);
  });

  it('names the option of a limit the gateway rejects', async () => {
    const run = await faas(mesh, ['submit', 'https://example.com/repo.git', '--pids', '2']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, 'faas: INVALID_ARGUMENT: --pids: is 2; the minimum is 8, or 0 for the default\n');
  });
});
