import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { runProcess, type ProcessOptions } from '../process.js';
import { testPrograms } from '../sandbox/test-support.js';
import { LauncherError, ProcessLauncher } from './launcher.js';

let program: string;

before(async () => {
  const programs = await testPrograms();
  if (!programs) throw new Error('gcc is needed to build the process launcher');
  program = programs.launch;
});

/** Runs a shell script through `launcher` with a 10 s ceiling. */
function run(launcher: ProcessLauncher, script: string, options: Partial<ProcessOptions> = {}) {
  return runProcess({
    file: 'sh',
    args: ['-c', script],
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    input: Buffer.alloc(0),
    signal: AbortSignal.timeout(10_000),
    captureBytes: 1 << 20,
    onOutput: async () => undefined,
    launcher,
    ...options,
  });
}

/** Reads the state letter of a process from /proc; undefined when it is gone. */
function processState(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
  } catch {
    return undefined;
  }
}

async function waitUntilGone(pid: number): Promise<boolean> {
  for (let tries = 0; tries < 100; tries++) {
    const state = processState(pid);
    if (state === undefined || state === 'Z') return true;
    await sleep(50);
  }
  return false;
}

describe('ProcessLauncher', () => {
  let launcher: ProcessLauncher;

  beforeEach(() => {
    launcher = new ProcessLauncher(program);
  });

  afterEach(() => launcher.stop());

  it('starts programs as session leaders', async () => {
    const done = await run(launcher, 'read -r pid comm state ppid pgrp session rest < /proc/$$/stat; echo $pid $ppid $pgrp $session');
    const [pid, parent, group, session] = done.stdout.toString().trim().split(' ').map(Number);
    assert.equal(parent, launcher.pid);
    assert.notEqual(parent, process.pid);
    assert.equal(group, pid);
    assert.equal(session, pid);
  });

  it('passes only the standard descriptors', async () => {
    // Without a pipeline, the shell opens nothing while ls reads its descriptors.
    const descriptors = (output: Buffer) => output.toString().trim().split('\n').map(Number).sort((a, b) => a - b);
    const plain = await run(launcher, 'ls /proc/$$/fd');
    assert.deepEqual(descriptors(plain.stdout), [0, 1, 2]);
    const withStatus = await run(launcher, 'ls /proc/$$/fd; echo ready >&3', { statusPipe: true });
    assert.deepEqual(descriptors(withStatus.stdout), [0, 1, 2, 3]);
    assert.equal(withStatus.status, 'ready\n');
  });

  it('starts a program with no signal blocked or ignored', async () => {
    // A shell blocks signals while it waits for a child, so grep reads its own status after the exec.
    const done = await run(launcher, 'exec grep -E "^Sig(Blk|Ign)" /proc/self/status');
    assert.equal(done.stdout.toString(), 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  });

  it('looks the program up in the PATH of its own environment', async () => {
    const found = await run(launcher, '', { file: 'printenv', args: ['LANG'], env: { PATH: '/usr/bin', LANG: 'C.UTF-8' } });
    assert.equal(found.stdout.toString(), 'C.UTF-8\n');
    const missing = await run(launcher, '', { file: 'printenv', args: [], env: { PATH: '/nonexistent' } });
    assert.equal(missing.startError?.code, 'ENOENT');
    assert.equal(missing.startError?.message, 'spawn printenv ENOENT');
  });

  it('reports a missing folder as start error', async () => {
    const done = await run(launcher, 'true', { cwd: '/no/such/folder' });
    assert.equal(done.startError?.code, 'ENOENT');
  });

  it('rejects a NUL byte in an argument as child_process.spawn does', async () => {
    const done = await run(launcher, 'true\0false');
    assert.equal((done.startError as NodeJS.ErrnoException | undefined)?.code, 'ERR_INVALID_ARG_VALUE');
  });

  it('reports the signal that killed a program', async () => {
    const done = await run(launcher, 'kill -USR1 $$');
    assert.equal(done.signal, 'SIGUSR1');
    assert.equal(done.exitCode, undefined);
  });

  it('keeps the programs of concurrent starts apart', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, index) => run(launcher, `cat; echo ${index} >&2; exit ${index % 7}`, { input: Buffer.from(`in ${index}\n`) })),
    );
    results.forEach((done, index) => {
      assert.equal(done.stdout.toString(), `in ${index}\n`);
      assert.equal(done.stderr.toString(), `${index}\n`);
      assert.equal(done.exitCode, index % 7);
    });
  });

  it('passes large arguments, environments and inputs', async () => {
    const argument = 'a'.repeat(100_000);
    const input = Buffer.alloc(3 << 20, 'b');
    const script = 'printf %s "$1" | wc -c; printf %s "$BIG" | wc -c; wc -c';
    const done = await run(launcher, script, {
      args: ['-c', script, 'sh', argument],
      env: { PATH: '/usr/bin:/bin', BIG: 'c'.repeat(100_000) },
      input,
    });
    assert.deepEqual(done.stdout.toString().split('\n').map((line) => line.trim()), ['100000', '100000', String(input.length), '']);
  });

  it('survives the death of a launcher', async () => {
    let programPid = 0;
    const running = run(launcher, 'echo $$; exec sleep 30', {
      onOutput: async (_stream, data) => {
        programPid = Number(data.toString().trim());
      },
    });
    while (programPid === 0) await sleep(10);
    const firstLauncher = launcher.pid!;
    process.kill(firstLauncher, 'SIGKILL');
    await assert.rejects(running, LauncherError);
    assert.ok(await waitUntilGone(programPid), 'the program outlived its launcher');

    const next = await run(launcher, 'echo $PPID');
    assert.equal(next.exitCode, 0);
    assert.equal(Number(next.stdout.toString()), launcher.pid);
    assert.notEqual(launcher.pid, firstLauncher);
  });

  it('falls back to child_process.spawn', async () => {
    const broken = new ProcessLauncher('/bin/false');
    for (let attempt = 0; attempt < 5; attempt++) {
      const done = await run(broken, 'echo $PPID');
      assert.equal(done.exitCode, 0);
      assert.equal(Number(done.stdout.toString()), process.pid);
    }
    await assert.rejects(
      broken.launch({ file: 'true', args: [], cwd: '/', env: {}, stdin: false, statusPipe: false }),
      (error: Error) => error instanceof LauncherError && /stopped 3 times without starting a program/.test(error.message),
    );
  });

  it('stop waits for the launcher to exit', async () => {
    await run(launcher, 'true');
    const pid = launcher.pid!;
    await launcher.stop();
    assert.equal(processState(pid), undefined, 'the launcher is still there, or a zombie');
  });

  it('dies with the worker', async () => {
    const launcherModule = fileURLToPath(new URL('./launcher.ts', import.meta.url));
    const script = `
      import { ProcessLauncher } from ${JSON.stringify(launcherModule)};
      const launcher = new ProcessLauncher(${JSON.stringify(program)});
      const started = await launcher.launch({ file: 'sleep', args: ['30'], cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdin: false, statusPipe: false });
      console.log(JSON.stringify({ launcher: launcher.pid, program: started.pid }));
      setInterval(() => undefined, 1000);
    `;
    const worker = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      worker.stdout.setEncoding('utf8').once('data', resolve);
      worker.once('exit', (code) => reject(new Error(`the worker exited with code ${code} before it started a program`)));
    });
    const pids = JSON.parse(line) as { launcher: number; program: number };
    try {
      worker.kill('SIGKILL');
      assert.ok(await waitUntilGone(pids.launcher), 'the launcher outlived the worker');
    } finally {
      // Without a sandbox, nothing else ends the program.
      try {
        process.kill(-pids.program, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
});
