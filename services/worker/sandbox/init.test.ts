import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSandboxCommand } from './command.js';
import { parseInitStatus, sandboxInitPath } from './init.js';
import { cleanUpTests, makeTestJob, requireSandboxPrograms, runInSandbox, type TestJob } from './test-support.js';

describe('parseInitStatus', () => {
  it('reads an exit code, a signal and a start error', () => {
    assert.deepEqual(parseInitStatus('exit 3\n'), { kind: 'exit', exitCode: 3 });
    assert.deepEqual(parseInitStatus('signal 11\n'), { kind: 'signal', signal: 'SIGSEGV' });
    const started = parseInitStatus('start-error 13\n');
    assert.equal(started?.kind, 'start-error');
    assert.equal(started.kind === 'start-error' && started.error.code, 'EACCES');
    assert.equal(started.kind === 'start-error' && started.error.message, 'permission denied');
  });

  it('takes anything else as no report', () => {
    for (const text of ['', 'exit 3', 'exit\n', 'signal x\n', 'exit 3\nexit 4\n']) assert.equal(parseInitStatus(text), undefined, text);
  });
});

describe('buildSandboxCommand with an init', () => {
  it('runs the init as the first process, in front of the program', () => {
    const command = buildSandboxCommand({
      uid: 61005,
      gid: 61005,
      jobDir: '/srv/jobs/a',
      workDir: '/srv/jobs/a/src',
      env: {},
      network: false,
      rlimits: { fileSizeBytes: 1024, openFiles: 64 },
      procsFiles: [],
      argv: ['python3', 'main.py'],
      init: '/var/lib/faas/faas-init-x',
    });
    assert.ok(command.args.includes('--as-pid-1'));
    const bind = command.args.indexOf('/var/lib/faas/faas-init-x');
    assert.deepEqual(command.args.slice(bind - 1, bind + 2), ['--ro-bind', '/var/lib/faas/faas-init-x', sandboxInitPath]);
    assert.deepEqual(command.args.slice(-3), [sandboxInitPath, 'python3', 'main.py']);
  });
});

describe('sandbox init', function () {
  this.timeout(60_000);
  const root = join(tmpdir(), `faas-init-test-${process.pid}`);
  let init: string;
  let job: TestJob;

  before(async function () {
    init = (await requireSandboxPrograms(this)).init;
    job = await makeTestJob(root, 3);
  });
  after(async () => {
    await cleanUpTests(root);
  });

  it('reports a signal apart from an exit code of 128 + its number', async () => {
    const killed = await runInSandbox(job, ['sh', '-c', 'kill -SEGV $$'], { init });
    assert.equal(killed.process.signal, 'SIGSEGV');
    assert.equal(killed.process.exitCode, undefined);

    const exited = await runInSandbox(job, ['sh', '-c', 'exit 139'], { init });
    assert.equal(exited.process.exitCode, 139);
    assert.equal(exited.process.signal, undefined);
  });

  it('reports a failed start quietly', async () => {
    const run = await runInSandbox(job, ['no-such-program'], { init });
    assert.equal(run.process.startError?.code, 'ENOENT');
    assert.equal(run.process.stderr.toString(), '');
  });

  it('keeps its status descriptor from the program', async () => {
    const run = await runInSandbox(job, ['sh', '-c', 'if [ -e /proc/$$/fd/3 ]; then echo open; else echo closed; fi; exit 4'], { init });
    assert.equal(run.process.stdout.toString(), 'closed\n');
    assert.equal(run.process.exitCode, 4);
  });

  it('ends when the program does, with its orphans still running', async () => {
    const started = Date.now();
    const run = await runInSandbox(job, ['sh', '-c', 'sleep 30 & echo started; exit 5'], { init });
    assert.equal(run.process.exitCode, 5);
    assert.ok(Date.now() - started < 20_000, 'the orphan held the job');
  });

  it('reports a signal as 128 + its number without the init', async () => {
    const run = await runInSandbox(job, ['sh', '-c', 'kill -SEGV $$']);
    assert.equal(run.process.exitCode, 139);
  });
});
