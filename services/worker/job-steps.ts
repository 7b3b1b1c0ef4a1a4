import { join } from 'node:path';
import type { LogStream } from '../../gen/faas/v1/job.js';
import type { ResourceLimits, WorkerConfig } from './config.js';
import { runProcess, type ProcessResult } from './process.js';
import { cachedUntilRejected } from './promise-cache.js';
import type { CgroupStats } from './sandbox/cgroup-files.js';
import { sandboxJobDir } from './sandbox/command.js';
import type { ProcessLauncher } from './launcher/launcher.js';
import type { SandboxPrograms } from './sandbox/programs.js';
import { runSandboxed } from './sandbox/run.js';
import type { IdentityFiles } from './sandbox/command.js';
import { prepareJobDir, sandboxUser, writeIdentityFiles } from './sandbox/users.js';

/** Isolation of the jobs on this worker, decided once at start-up by the probe. */
export type IsolationLevel = 'sandboxed' | 'none';

export interface Step {
  /** Short name for the cgroup, such as "build" or "run". */
  name: string;
  /** Program and arguments, with paths as they appear to the program (see `jobPath`). */
  argv: string[];
  input: Buffer;
  /** Aborting kills every process of the step. */
  signal: AbortSignal;
  /** Aborting sends SIGTERM to the step's processes, which `signal` later kills if they are still there. */
  terminate: AbortSignal;
  onOutput: (stream: LogStream, data: Buffer) => Promise<void>;
  captureBytes: number;
}

export interface StepResult {
  process: ProcessResult;
  /** Resource use from the step's cgroup; absent without a sandbox. */
  stats?: CgroupStats;
}

/** Runs the steps of one job (build, then run) the same way, sandboxed or not. */
export interface StepRunner {
  readonly isolation: IsolationLevel;
  /** Returns the path of a file of the job folder as the job's programs see it. */
  jobPath(relative: string): string;
  run(step: Step): Promise<StepResult>;
}

export interface StepRunnerOptions {
  isolation: IsolationLevel;
  /** The compiled sandbox programs; without them, a shell, prlimit, setpriv and bubblewrap's own init stand in. */
  sandboxPrograms?: SandboxPrograms;
  /** Starts the steps' programs; without it, the worker forks them itself. */
  launcher?: ProcessLauncher;
  config: WorkerConfig;
  /** Worker slot of the job; each slot has its own host user. */
  slot: number;
  cgroupPrefix: string;
  jobDir: string;
  /** Folder inside `jobDir` that programs start in (the checkout). */
  repoDir: string;
  /** The job's own variables, added to a minimal PATH, HOME, TMPDIR and LANG. */
  env: Record<string, string>;
  network: boolean;
  limits: ResourceLimits;
}

const systemPath = '/usr/local/bin:/usr/bin:/bin';

/**
 * Prepares the job folder for its steps. With a sandbox, the folder goes to
 * the slot's unprivileged user, and each step runs in its own cgroup, with
 * namespaces and rlimits, seeing the folder at /job.
 */
export async function openStepRunner(options: StepRunnerOptions): Promise<StepRunner> {
  const { config, jobDir, repoDir, limits } = options;
  if (options.isolation === 'none') {
    const env = { PATH: systemPath, HOME: join(jobDir, 'home'), TMPDIR: join(jobDir, 'tmp'), LANG: 'C.UTF-8', ...options.env };
    return {
      isolation: 'none',
      jobPath: (relative) => join(jobDir, relative),
      run: async (step) => ({
        process: await runProcess({ ...step, file: step.argv[0], args: step.argv.slice(1), cwd: repoDir, env, launcher: options.launcher }),
      }),
    };
  }

  const user = sandboxUser(options.slot, config.sandboxUidBase);
  await prepareJobDir(jobDir, user.uid, user.gid);
  const identityFiles = await slotIdentityFiles(join(config.workDir, 'identity', `slot-${options.slot}`), user.uid, user.gid);
  const env = { PATH: systemPath, HOME: `${sandboxJobDir}/home`, TMPDIR: '/tmp', LANG: 'C.UTF-8', ...options.env };
  return {
    isolation: 'sandboxed',
    jobPath: (relative) => `${sandboxJobDir}/${relative}`,
    run: (step) =>
      runSandboxed({
        cgroupName: `${options.cgroupPrefix}-${step.name}`,
        limits: { memoryBytes: limits.memoryBytes, pids: limits.pids, cpuPercent: limits.cpuPercent },
        sandbox: {
          uid: user.uid,
          gid: user.gid,
          jobDir,
          workDir: repoDir,
          env,
          network: options.network,
          rlimits: { fileSizeBytes: limits.fileSizeBytes, openFiles: limits.openFiles },
          argv: step.argv,
          identityFiles,
          init: options.sandboxPrograms?.init,
          enter: options.sandboxPrograms?.enter,
        },
        input: step.input,
        signal: step.signal,
        terminate: step.terminate,
        onOutput: step.onOutput,
        captureBytes: step.captureBytes,
        launcher: options.launcher,
      }),
  };
}

/** Identity files written by this process, by folder; they are the same for every job of a slot. */
const writtenIdentityFiles = new Map<string, Promise<IdentityFiles>>();

/** Writes the slot's identity files once per process; they stay owned by root, outside the job folder. */
function slotIdentityFiles(folder: string, uid: number, gid: number): Promise<IdentityFiles> {
  return cachedUntilRejected(writtenIdentityFiles, `${folder}\n${uid}:${gid}`, () => writeIdentityFiles(folder, uid, gid));
}
