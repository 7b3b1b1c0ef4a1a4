import type { LogStream } from '../../../gen/faas/v1/job.js';
import type { ProcessLauncher } from '../launcher/launcher.js';
import { runProcess, type ProcessResult } from '../process.js';
import { createJobCgroup, defaultCgroupRoot, type CgroupLimits, type CgroupStats } from './cgroups.js';
import { buildSandboxCommand, type SandboxOptions } from './command.js';
import { parseInitStatus } from './init.js';

export interface SandboxedRunOptions {
  /** Name of the job's cgroup, unique among running jobs (for example `<jobId>-<attempt>`). */
  cgroupName: string;
  limits: CgroupLimits;
  /** Default `/sys/fs/cgroup`. */
  cgroupRoot?: string;
  sandbox: Omit<SandboxOptions, 'procsFiles'>;
  input: Buffer;
  /** Aborting kills every process of the job, through its process group and its cgroup. */
  signal: AbortSignal;
  /**
   * Aborting sends SIGTERM to every process of the job but bubblewrap, which
   * would take the whole sandbox down with it. `signal` still ends the job.
   */
  terminate?: AbortSignal;
  onOutput: (stream: LogStream, data: Buffer) => Promise<void>;
  /** Bytes of each output stream kept in the result. */
  captureBytes: number;
  /** Starts bubblewrap; without it, the worker forks it itself. */
  launcher?: ProcessLauncher;
}

export interface SandboxedRunResult {
  process: ProcessResult;
  stats: CgroupStats;
}

/**
 * Runs one program in the sandbox inside a fresh job cgroup. Once the
 * program exits or `signal` aborts, every process left in the cgroup is
 * killed, then the cgroup is read and removed. Processes that started a new
 * session still die, because they stay in the cgroup.
 *
 * The exit code is the program's own. With the sandbox init, a program
 * killed by a signal has that signal and no exit code, and one that could
 * not start has a start error. Without it, bubblewrap reports a signal as
 * exit code 128 + its number (137 for SIGKILL). Throws when the cgroup
 * cannot be created or removed.
 */
export async function runSandboxed(options: SandboxedRunOptions): Promise<SandboxedRunResult> {
  const cgroup = await createJobCgroup(options.cgroupName, options.limits, options.cgroupRoot ?? defaultCgroupRoot);
  let killing: Promise<void> | undefined;
  let terminating: Promise<void> = Promise.resolve();
  const killAll = () => {
    killing ??= cgroup.killAll().finally(() => {
      killing = undefined;
    });
    return killing;
  };
  const onAbort = () => {
    killAll().catch(() => {
      // The second killAll after the process ends reports what is left.
    });
  };

  try {
    const command = buildSandboxCommand({ ...options.sandbox, procsFiles: cgroup.procsFiles });
    options.signal.addEventListener('abort', onAbort, { once: true });
    let result: ProcessResult;
    try {
      result = await runProcess({
        file: command.file,
        args: command.args,
        cwd: '/',
        env: command.env,
        input: options.input,
        signal: options.signal,
        terminate: options.terminate,
        // The sandbox's pid 1 has no handler for SIGTERM, so the kernel drops the signal for it.
        sendTerminate: (sandboxPid) => {
          terminating = cgroup.signalAll('SIGTERM', sandboxPid).catch(() => {
            // The job still ends when its grace is over.
          });
        },
        onOutput: options.onOutput,
        captureBytes: options.captureBytes,
        statusPipe: options.sandbox.init !== undefined,
        launcher: options.launcher,
      });
      result = withInitStatus(result);
    } finally {
      options.signal.removeEventListener('abort', onAbort);
    }
    // A freeze for SIGTERM that is still in progress ends before the cgroup is killed and read.
    await terminating;
    await (killing ?? Promise.resolve()).catch(() => undefined);
    await killAll();
    return { process: result, stats: await cgroup.stats() };
  } finally {
    await cgroup.remove();
  }
}

/**
 * Takes how the program ended from the init's report, in place of the exit
 * status of the sandbox, which the init derives from it. A result without a
 * report, as when the job was killed, stays as it is.
 */
function withInitStatus(result: ProcessResult): ProcessResult {
  const status = result.status === undefined ? undefined : parseInitStatus(result.status);
  if (status === undefined) return result;
  const { exitCode: _exitCode, signal: _signal, ...rest } = result;
  switch (status.kind) {
    case 'exit':
      return { ...rest, exitCode: status.exitCode };
    case 'signal':
      return { ...rest, signal: status.signal };
    case 'start-error':
      return { ...rest, startError: status.error };
  }
}
