import type { LogStream } from '../../../gen/faas/v1/job.js';
import { runProcess, type ProcessResult } from '../process.js';
import { createJobCgroup, defaultCgroupRoot, type CgroupLimits, type CgroupStats } from './cgroups.js';
import { buildSandboxCommand, type SandboxOptions } from './command.js';

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
  onOutput: (stream: LogStream, data: Buffer) => Promise<void>;
  /** Bytes of each output stream kept in the result. */
  captureBytes: number;
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
 * The exit code is the program's own. bubblewrap reports a program killed
 * by a signal as exit code 128 + the signal number (137 for SIGKILL).
 * Throws when the cgroup cannot be created or removed.
 */
export async function runSandboxed(options: SandboxedRunOptions): Promise<SandboxedRunResult> {
  const cgroup = await createJobCgroup(options.cgroupName, options.limits, options.cgroupRoot ?? defaultCgroupRoot);
  let killing: Promise<void> | undefined;
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
        onOutput: options.onOutput,
        captureBytes: options.captureBytes,
      });
    } finally {
      options.signal.removeEventListener('abort', onAbort);
    }
    await (killing ?? Promise.resolve()).catch(() => undefined);
    await killAll();
    return { process: result, stats: await cgroup.stats() };
  } finally {
    await cgroup.remove();
  }
}
