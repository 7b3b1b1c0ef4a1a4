import assert from 'node:assert/strict';
import { LogStream } from '../../gen/faas/v1/job.js';
import { ProcessLauncher } from './launcher/launcher.js';
import { runProcess } from './process.js';
import { testPrograms } from './sandbox/test-support.js';

/** The launcher of the variant under test; undefined for child_process.spawn. */
let launcher: ProcessLauncher | undefined;

function run(script: string, options: { input?: string; captureBytes?: number; signal?: AbortSignal; terminate?: AbortSignal } = {}) {
  const chunks: Array<[LogStream, string]> = [];
  const result = runProcess({
    file: '/bin/sh',
    args: ['-c', script],
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    input: Buffer.from(options.input ?? ''),
    signal: options.signal ?? new AbortController().signal,
    terminate: options.terminate,
    captureBytes: options.captureBytes ?? 1024,
    launcher,
    onOutput: async (stream, data) => {
      chunks.push([stream, data.toString()]);
    },
  });
  return { result, chunks };
}

for (const variant of ['child_process.spawn', 'the process launcher'] as const) describe(`runProcess through ${variant}`, () => {
  before(async () => {
    if (variant === 'child_process.spawn') return;
    const programs = await testPrograms();
    if (!programs) throw new Error('gcc is needed to build the process launcher');
    launcher = new ProcessLauncher(programs.launch);
  });

  after(() => {
    launcher?.stop();
    launcher = undefined;
  });

  it('feeds stdin and captures both streams', async () => {
    const { result, chunks } = run('cat; echo err >&2; exit 4', { input: 'in\n' });
    const done = await result;
    assert.equal(done.exitCode, 4);
    assert.equal(done.stdout.toString(), 'in\n');
    assert.equal(done.stderr.toString(), 'err\n');
    assert.deepEqual(chunks.filter(([s]) => s === LogStream.LOG_STREAM_STDERR).map(([, d]) => d).join(''), 'err\n');
  });

  it('gives a program without input an empty stdin', async () => {
    const { result } = run('wc -c; readlink /proc/self/fd/0 >&2');
    const done = await result;
    assert.equal(done.exitCode, 0);
    assert.equal(done.stdout.toString().trim(), '0');
    assert.equal(done.stderr.toString(), '/dev/null\n');
  });

  it('caps captured output and flags it', async () => {
    const { result, chunks } = run('head -c 5000 /dev/zero', { captureBytes: 100 });
    const done = await result;
    assert.equal(done.stdout.length, 100);
    assert.equal(done.stdoutTruncated, true);
    assert.equal(done.outputBytes, 5000);
    assert.equal(chunks.reduce((sum, [, d]) => sum + d.length, 0), 5000);
  });

  it('kills the process group on abort', async () => {
    const controller = new AbortController();
    const { result } = run('sleep 30 & sleep 30', { signal: controller.signal });
    setTimeout(() => controller.abort('cancelled'), 200);
    const done = await result;
    assert.equal(done.signal, 'SIGKILL');
    assert.equal(done.exitCode, undefined);
  });

  it('sends SIGTERM to the process group', async () => {
    const terminate = new AbortController();
    const { result } = run(`trap 'echo cleaning up; exit 3' TERM; echo started; sleep 30 & wait`, { terminate: terminate.signal });
    setTimeout(() => terminate.abort('cancelled'), 300);
    const done = await result;
    assert.equal(done.stdout.toString(), 'started\ncleaning up\n');
    assert.equal(done.exitCode, 3);
  });

  it('skips a program already stopped', async () => {
    const terminate = new AbortController();
    terminate.abort('cancelled');
    const { result } = run('echo started', { terminate: terminate.signal });
    const done = await result;
    assert.equal(done.stdout.toString(), '');
    assert.equal(done.signal, 'SIGTERM');
  });

  it('kills a program that ignores SIGTERM', async () => {
    const signal = new AbortController();
    const terminate = new AbortController();
    const { result } = run(`trap '' TERM; sleep 30`, { signal: signal.signal, terminate: terminate.signal });
    setTimeout(() => terminate.abort('cancelled'), 200);
    setTimeout(() => signal.abort('cancelled'), 600);
    const done = await result;
    assert.equal(done.signal, 'SIGKILL');
  });

  it('reports a program that cannot start', async () => {
    const done = await runProcess({
      file: '/no/such/program',
      args: [],
      cwd: '/',
      env: {},
      input: Buffer.alloc(0),
      signal: new AbortController().signal,
      captureBytes: 10,
      onOutput: async () => undefined,
      launcher,
    });
    assert.equal(done.startError?.code, 'ENOENT');
    assert.equal(done.startError?.message, 'spawn /no/such/program ENOENT');
  });
});
