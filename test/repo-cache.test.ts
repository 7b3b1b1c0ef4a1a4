import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { JobState } from '../gen/faas/v1/job.js';
import { Mesh, finalRecord } from './harness.js';

/** Changes everything it can in its checkout, then tries to reach the cache folder by its host path. */
const attack = [
  'echo tampered >> data.txt',
  'chmod 777 data.txt main.sh',
  'rm -f keep.txt && echo replaced > keep.txt',
  'mv lib/helper.txt lib/moved.txt',
  'ln -s /etc/hostname link.txt',
  'chmod 700 lib',
  'echo new > new.txt',
  'rm -rf .git',
  'ls "$CACHE_PATH" 2>&1 || echo "cache not reachable"',
  'touch "$CACHE_PATH/planted" 2>&1 || echo "cache not writable"',
  'echo attacked',
].join('\n');

/** Prints what the checkout holds: contents, modes, names and the commit. */
const inspect = [
  'cat data.txt keep.txt lib/helper.txt',
  "stat -c '%n %a' data.txt main.sh lib",
  "ls -A | sort | tr '\\n' ' '; echo",
  'git rev-parse HEAD',
  'git status --porcelain | wc -l',
  // Branches, tags and commits need the folders git makes again on demand.
  'git checkout -q -b topic && git tag t1 && echo more >> data.txt && git -c user.name=job -c user.email=job@example.com commit -qam more && git log --oneline | wc -l',
].join('\n');

const files = {
  'main.sh': `if [ "$MODE" = attack ]; then\n${attack}\nelse\n${inspect}\nfi\nexit 0\n`,
  'data.txt': 'original data\n',
  'keep.txt': 'original keep\n',
  'lib/helper.txt': 'original helper\n',
};

describe('repository cache through the worker', function () {
  this.timeout(90_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 1, slots: 2 });
  });
  after(async () => {
    await mesh?.stop();
  });

  const run = async (url: string, ref: string, env: Record<string, string>) => {
    const { job } = await mesh.client.submit({ repositoryUrl: url, ref, env, timeoutSeconds: 20 });
    const done = await finalRecord(mesh, job!.id);
    const { result } = await mesh.client.result(job!.id);
    return { done, stdout: result!.stdout.toString(), stderr: result!.stderr.toString() };
  };

  it('keeps the cache intact against a job', async () => {
    const repo = await mesh.repository(files);
    const cacheDir = join(mesh.workerDir(0), 'repo-cache', '0');

    const attacked = await run(repo.url, repo.commitSha, { MODE: 'attack', CACHE_PATH: cacheDir });
    assert.equal(attacked.done.state, JobState.JOB_STATE_SUCCEEDED, `${attacked.done.error?.message} ${attacked.stderr}`);
    assert.match(attacked.stdout, /attacked/);
    assert.match(attacked.stdout, /cache not reachable/);
    assert.match(attacked.stdout, /cache not writable/);

    const inspected = await run(repo.url, repo.commitSha, { MODE: 'inspect' });
    assert.equal(inspected.done.state, JobState.JOB_STATE_SUCCEEDED, `${inspected.done.error?.message} ${inspected.stderr}`);
    const lines = inspected.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 3), ['original data', 'original keep', 'original helper']);
    assert.deepEqual(lines.slice(3, 6), ['data.txt 644', 'main.sh 644', 'lib 755']);
    assert.equal(lines[6].trim(), '.git data.txt keep.txt lib main.sh');
    assert.equal(lines[7], repo.commitSha);
    assert.deepEqual(lines.slice(8).map((line) => line.trim()), ['0', '2']);

    // On the host: one tree for the commit, owned by root, unchanged, in a folder only root may enter.
    assert.equal((await stat(cacheDir)).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(cacheDir).then((names) => names.includes('planted')), false);
    const trees = (await readdir(join(cacheDir, 'trees'))).filter((name) => name.endsWith(`-${repo.commitSha}`));
    assert.equal(trees.length, 1);
    const tree = join(cacheDir, 'trees', trees[0]);
    for (const [path, content] of Object.entries(files)) {
      assert.equal(await readFile(join(tree, path), 'utf8'), content, path);
      const info = await stat(join(tree, path));
      assert.equal(info.uid, 0, `${path} owner`);
      assert.equal(info.mode & 0o777, 0o644, `${path} mode`);
    }
    assert.equal((await stat(join(tree, 'lib'))).mode & 0o777, 0o755);
    assert.deepEqual((await readdir(tree)).sort(), ['.git', 'data.txt', 'keep.txt', 'lib', 'main.sh']);
    // Only what git cannot do without, so each job copies few entries.
    assert.deepEqual((await readdir(join(tree, '.git'))).sort(), ['HEAD', 'config', 'index', 'objects', 'refs', 'shallow']);
  });
});

describe('checkouts kept between jobs', function () {
  this.timeout(90_000);
  let mesh: Mesh;

  before(async () => {
    // One slot, so every job gets the folder of the job before it.
    mesh = await Mesh.start({ workers: 1, slots: 1 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('sets a kept checkout back before the next job of the commit', async () => {
    const script = [
      'cat data.txt lib/helper.txt',
      "ls -A | tr '\\n' ' '; echo",
      "stat -c '%n %a' data.txt main.sh",
      // Birth times tell a file copied again from one left in place.
      "stat -c '%n %w' main.sh lib/helper.txt",
      'git status --porcelain | wc -l',
      'echo tampered >> data.txt && chmod 600 main.sh && rm -rf .git && echo new > new.txt && mkdir -p out && echo o > out/o',
    ].join('\n');
    const repo = await mesh.repository({ 'main.sh': script, 'data.txt': 'original data\n', 'lib/helper.txt': 'original helper\n' });
    const births: string[] = [];
    for (let round = 1; round <= 3; round++) {
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url, ref: repo.commitSha, timeoutSeconds: 20 });
      const done = await finalRecord(mesh, job!.id);
      const { result } = await mesh.client.result(job!.id);
      assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, `round ${round}: ${done.error?.message} ${result!.stderr.toString()}`);
      const lines = result!.stdout.toString().trim().split('\n').map((line) => line.trim());
      assert.deepEqual(lines.slice(0, 5), ['original data', 'original helper', '.git data.txt lib main.sh', 'data.txt 644', 'main.sh 644'], `round ${round}`);
      assert.equal(lines[7], '0', `round ${round}`);
      births.push(lines.slice(5, 7).join('\n'));
    }
    // The files the jobs did not change stayed where they were from the first job on.
    assert.equal(births[1], births[0]);
    assert.equal(births[2], births[0]);
  });
});

describe('fresh clones through the worker, cache off', function () {
  this.timeout(90_000);
  let mesh: Mesh;

  before(async () => {
    // One slot, so every job gets the folder (and the uid) of the job before it.
    mesh = await Mesh.start({ workers: 1, slots: 1, worker: { cacheEnabled: false } });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('reuses folders across fresh clones', async () => {
    const script = [
      'ls -A /job | tr "\\n" " "; echo',
      'ls -A "$HOME" | wc -l',
      'ls -A | tr "\\n" " "; echo',
      'git rev-parse HEAD',
      'for folder in /job "$HOME" /job/tmp .; do echo left > "$folder/left-behind"; done',
    ].join('\n');
    const repo = await mesh.repository({ 'main.sh': script });
    for (let round = 1; round <= 3; round++) {
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url, timeoutSeconds: 20 });
      const done = await finalRecord(mesh, job!.id);
      const { result } = await mesh.client.result(job!.id);
      assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, `round ${round}: ${done.error?.message} ${result!.stderr.toString()}`);
      // Nothing that the job before left behind is there.
      const [folder, home, checkout, commit] = result!.stdout.toString().split('\n').map((line) => line.trim());
      assert.equal(folder, 'home src tmp', `round ${round}`);
      assert.equal(home, '0', `round ${round}`);
      assert.equal(checkout, '.git main.sh', `round ${round}`);
      assert.equal(commit, repo.commitSha, `round ${round}`);
    }
  });
});
