import { readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Limits applied to one job's cgroup. */
export interface CgroupLimits {
  /** Memory the job may use, page cache and a tmpfs `/tmp` included, in bytes. Swap is not allowed on top. */
  memoryBytes: number;
  /** Maximum number of processes and threads alive at once. */
  pids: number;
  /** CPU bandwidth: 100 is one full core, 50 half a core, 200 two cores. */
  cpuPercent: number;
}

/** Resource use of a job, read after it ended (or while it runs). */
export interface CgroupStats {
  cpuTimeMs: number;
  peakMemoryBytes: number;
  /** True when the kernel's OOM killer killed a process of the job. */
  oomKilled: boolean;
  /** True when a fork or clone failed because the pids limit was reached. */
  pidsLimitHit: boolean;
}

/** One job's cgroup, under every controller the sandbox uses. */
export interface JobCgroup {
  /** Each `cgroup.procs` file a new process must join before it runs job code. */
  readonly procsFiles: string[];
  stats(): Promise<CgroupStats>;
  /** Kills every process in the cgroup, including ones that left the job's process group or session. */
  killAll(): Promise<void>;
  /**
   * Sends `signal` to every process in the cgroup but `exceptPid`. The cgroup
   * is frozen meanwhile, so no listed process can exit and leave its pid to
   * another process before the signal.
   */
  signalAll(signal: NodeJS.Signals, exceptPid?: number): Promise<void>;
  /** Removes the cgroup folders. Call after `killAll`: a folder with live processes cannot be removed. */
  remove(): Promise<void>;
}

/** Parent folder of every job cgroup (under each controller in v1). */
export const groupFolder = 'faas';

/** CFS period used to express `cpuPercent` as a quota, in microseconds. */
export const cpuPeriodUs = 100_000;

const cgroupName = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

export function checkCgroupName(name: string): void {
  if (!cgroupName.test(name)) {
    throw new RangeError(`invalid cgroup name ${JSON.stringify(name)}: use 1-100 letters, digits, '_', '.' or '-', not starting with '.' or '-'`);
  }
}

export function checkLimits(limits: CgroupLimits): void {
  const check = (field: keyof CgroupLimits, min: number) => {
    const value = limits[field];
    if (!Number.isSafeInteger(value) || value < min) {
      throw new RangeError(`invalid limits.${field} ${value}: expected an integer of at least ${min}`);
    }
  };
  check('memoryBytes', 1 << 20);
  check('pids', 1);
  check('cpuPercent', 1);
}

/** Quota in microseconds per `cpuPeriodUs` for a share of CPU where 100 is one core. */
export function cpuQuotaUs(cpuPercent: number): number {
  // The kernel rejects quotas below 1 ms.
  return Math.max(1_000, Math.round((cpuPeriodUs * cpuPercent) / 100));
}

// Calls on cgroup files and folders are synchronous because the kernel
// completes them at once, while the thread pool queued them behind other file work.

export async function readText(path: string): Promise<string> {
  return readFileSync(path, 'utf8').trim();
}

/** Reads a file, returning undefined when it does not exist (an interface file an older kernel lacks). */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readText(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function writeText(path: string, value: string | number): Promise<void> {
  try {
    writeFileSync(path, String(value));
  } catch (error) {
    throw new Error(`writing ${JSON.stringify(String(value))} to ${path} failed: ${(error as Error).message}`, { cause: error });
  }
}

/** Reads `key value` lines (memory.events, pids.events, cpu.stat, memory.oom_control) into a map. */
export function parseKeyValues(text: string | undefined): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) values.set(key, Number(value));
  }
  return values;
}

export function parsePids(text: string | undefined): number[] {
  return (text ?? '')
    .split('\n')
    .map((line) => Number.parseInt(line, 10))
    .filter((pid) => Number.isSafeInteger(pid) && pid > 0);
}

/** Sends SIGKILL to each pid, ignoring pids that are already gone. */
export function killPids(pids: number[]): void {
  signalPids(pids, 'SIGKILL');
}

/** Sends `signal` to each pid, ignoring pids that are already gone. */
export function signalPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}

/** Polls `procsFile` until it lists no process or `timeoutMs` passes; returns whether it is empty. */
export async function waitUntilEmpty(procsFile: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (parsePids(await readOptional(procsFile)).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(5);
  }
}

/**
 * Removes a cgroup folder. The kernel returns EBUSY for a few milliseconds
 * after the last process exited, so this retries for up to `timeoutMs`.
 */
export async function removeCgroupFolder(path: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      rmdirSync(path);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() >= deadline) {
        throw new Error(`removing cgroup ${path} failed: ${(error as Error).message}`, { cause: error });
      }
      await sleep(10);
    }
  }
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
