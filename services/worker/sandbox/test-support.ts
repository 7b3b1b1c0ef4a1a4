import { access, mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findToolchain } from '../entrypoint.js';
import { ProcessLauncher } from '../launcher/launcher.js';
import { runProcess, type ProcessResult } from '../process.js';
import { createJobCgroup, detectCgroups, type CgroupLimits, type JobCgroup } from './cgroups.js';
import { buildSandboxCommand, type IdentityFiles, type SandboxOptions } from './command.js';
import { buildSandboxPrograms, type SandboxPrograms } from './programs.js';
import { runSandboxed, type SandboxedRunResult } from './run.js';
import { prepareJobDir, sandboxUser, type SandboxUser } from './users.js';

/** Shared by the sandbox tests: temporary job folders and one-call sandboxed runs. */

export const testLimits: CgroupLimits = { memoryBytes: 128 << 20, pids: 64, cpuPercent: 100 };

/** Hard ceiling on any test job, in ms. */
export const testTimeoutMs = 10_000;

/** The sandbox programs the tests start jobs through, as a worker does; undefined without gcc. */
let programs: Promise<SandboxPrograms | undefined> | undefined;

/** Builds the sandbox programs once per test process, into a folder that the test processes share. */
export function testPrograms(): Promise<SandboxPrograms | undefined> {
  programs ??= findToolchain().then(({ gcc }) => (gcc ? buildSandboxPrograms(join(tmpdir(), 'faas-sandbox-programs-test'), gcc) : undefined));
  return programs;
}

let launcher: ProcessLauncher | undefined;

/** Returns the process launcher that the sandbox tests start jobs through, as a worker does; undefined without gcc. */
async function testLauncher(): Promise<ProcessLauncher | undefined> {
  const built = await testPrograms();
  if (built) launcher ??= new ProcessLauncher(built.launch);
  return launcher;
}

/**
 * Returns why the sandbox tests cannot run on this machine, or undefined
 * when they can. It also builds the sandbox programs, which the tests use
 * unless they ask for the shell chain.
 */
export async function sandboxUnavailable(): Promise<string | undefined> {
  await testPrograms();
  if (process.getuid?.() !== 0) return 'the sandbox tests must run as root';
  for (const tool of ['/usr/bin/bwrap', '/usr/bin/setpriv', '/usr/bin/prlimit']) {
    try {
      await access(tool);
    } catch {
      return `${tool} is not installed`;
    }
  }
  const support = await detectCgroups();
  return support.usable ? undefined : `cgroups are not usable: ${support.problem}`;
}

/**
 * Skips the suite of `context` when the sandbox tests cannot run here, and
 * otherwise returns the sandbox programs, which then must have been built.
 */
export async function requireSandboxPrograms(context: { skip(): void }): Promise<SandboxPrograms> {
  const reason = await sandboxUnavailable();
  if (reason) {
    console.log(`skipped: ${reason}`);
    context.skip();
  }
  const programs = await testPrograms();
  if (!programs) throw new Error('gcc is needed to build the sandbox programs');
  return programs;
}

export interface TestJob {
  user: SandboxUser;
  jobDir: string;
  /** `<jobDir>/src`, where programs start. */
  workDir: string;
}

/** Makes a job folder with a `src` folder, owned by the user of `slot`. Files can be added through `setup` before the hand-over. */
export async function makeTestJob(root: string, slot: number, setup?: (workDir: string) => Promise<void>): Promise<TestJob> {
  await mkdir(root, { recursive: true, mode: 0o755 });
  const jobDir = await mkdtemp(join(root, 'job-'));
  const workDir = join(jobDir, 'src');
  await mkdir(workDir);
  await mkdir(join(jobDir, 'home'));
  if (setup) await setup(workDir);
  const user = sandboxUser(slot);
  await prepareJobDir(jobDir, user.uid, user.gid);
  return { user, jobDir, workDir };
}

export interface TestRunOptions {
  limits?: CgroupLimits;
  network?: boolean;
  fileSizeBytes?: number;
  env?: Record<string, string>;
  /** Abort after this many ms; at most `testTimeoutMs`. */
  timeoutMs?: number;
  input?: string;
  identityFiles?: IdentityFiles;
  /** Host path of the sandbox init to run as the sandbox's first process. */
  init?: string;
  /**
   * Starts the sandbox through a shell, prlimit and setpriv, and with
   * child_process.spawn, as a worker without gcc does, instead of through the
   * sandbox entry and the process launcher.
   */
  chain?: boolean;
}

let runCount = 0;

async function sandboxOptions(job: TestJob, argv: string[], options: TestRunOptions): Promise<Omit<SandboxOptions, 'procsFiles'>> {
  const enter = options.chain ? undefined : (await testPrograms())?.enter;
  return {
    uid: job.user.uid,
    gid: job.user.gid,
    jobDir: job.jobDir,
    workDir: job.workDir,
    env: { PATH: '/usr/bin:/bin', HOME: '/job/home', LANG: 'C.UTF-8', ...options.env },
    network: options.network ?? false,
    rlimits: { fileSizeBytes: options.fileSizeBytes ?? 64 << 20, openFiles: 256 },
    argv,
    identityFiles: options.identityFiles,
    init: options.init,
    enter,
  };
}

/** A sandboxed program started in a job cgroup that the test manages itself. */
export interface StartedJob {
  cgroup: JobCgroup;
  /** Settles when the program and its output pipes have closed. */
  done: Promise<ProcessResult>;
  /** Aborts the run (kills the process group); the cgroup is left to the test. */
  abort(): void;
}

/** Starts `argv` through buildSandboxCommand and runProcess in a new job cgroup, aborted after at most `testTimeoutMs`. */
export async function startInCgroup(job: TestJob, argv: string[], options: TestRunOptions = {}): Promise<StartedJob> {
  runCount += 1;
  const cgroup = await createJobCgroup(`test-${process.pid}-${runCount}`, options.limits ?? testLimits);
  const command = buildSandboxCommand({ ...(await sandboxOptions(job, argv, options)), procsFiles: cgroup.procsFiles });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.min(options.timeoutMs ?? testTimeoutMs, testTimeoutMs));
  const done = runProcess({
    file: command.file,
    args: command.args,
    cwd: '/',
    env: command.env,
    input: Buffer.from(options.input ?? ''),
    signal: controller.signal,
    onOutput: async () => undefined,
    captureBytes: 256 * 1024,
    launcher: options.chain ? undefined : await testLauncher(),
  }).finally(() => clearTimeout(timer));
  return { cgroup, done, abort: () => controller.abort() };
}

/** Runs `argv` in the sandbox inside a fresh job cgroup, always killed within `testTimeoutMs`. */
export async function runInSandbox(job: TestJob, argv: string[], options: TestRunOptions = {}): Promise<SandboxedRunResult> {
  runCount += 1;
  const signal = AbortSignal.timeout(Math.min(options.timeoutMs ?? testTimeoutMs, testTimeoutMs));
  return runSandboxed({
    cgroupName: `test-${process.pid}-${runCount}`,
    limits: options.limits ?? testLimits,
    sandbox: await sandboxOptions(job, argv, options),
    input: Buffer.from(options.input ?? ''),
    signal,
    onOutput: async () => undefined,
    captureBytes: 256 * 1024,
    launcher: options.chain ? undefined : await testLauncher(),
  });
}

/** Removes the test folders and the shared `faas` cgroup parents when no other job uses them. */
export async function cleanUpTests(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
  await removeCgroupParents();
}

/** Removes the shared v1 `faas` cgroup folders unless a job still uses them. */
export async function removeCgroupParents(): Promise<void> {
  for (const controller of ['memory', 'pids', 'cpu', 'cpuacct', 'freezer']) {
    await rmdir(join('/sys/fs/cgroup', controller, 'faas')).catch(() => undefined);
  }
}
