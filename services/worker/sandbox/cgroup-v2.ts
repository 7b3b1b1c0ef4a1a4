import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  cpuPeriodUs,
  cpuQuotaUs,
  fileExists,
  groupFolder,
  signalPids,
  parseKeyValues,
  parsePids,
  readOptional,
  readText,
  removeCgroupFolder,
  waitUntilEmpty,
  writeText,
  type CgroupLimits,
  type CgroupStats,
  type JobCgroup,
} from './cgroup-files.js';

/** Controllers a job cgroup needs enabled in its parent's `cgroup.subtree_control`. */
export const v2Controllers = ['memory', 'pids', 'cpu'] as const;

const settleMs = 2_000;

/**
 * Creates `<root>/faas/<name>` in a cgroup v2 hierarchy and writes the
 * limits. `root` must be a subtree delegated to the worker (the host's
 * root, or the folder a container runtime or systemd delegated).
 *
 * NOTE: these machines only have a v2 hierarchy without controllers, so this
 * code is tested against a temporary folder that copies the v2 file names,
 * never against a real kernel.
 */
export async function createV2Cgroup(root: string, name: string, limits: CgroupLimits): Promise<JobCgroup> {
  const parent = join(root, groupFolder);
  const folder = join(parent, name);
  const enable = v2Controllers.map((controller) => `+${controller}`).join(' ');

  mkdirSync(parent, { recursive: true });
  // Controllers reach a job folder only when each ancestor enables them for its children.
  await writeText(join(root, 'cgroup.subtree_control'), enable);
  await writeText(join(parent, 'cgroup.subtree_control'), enable);
  mkdirSync(folder);
  try {
    await writeText(join(folder, 'memory.max'), limits.memoryBytes);
    // memory.swap.max is missing when the kernel does not account swap; then there is no swap to forbid.
    if (await fileExists(join(parent, 'memory.swap.max'))) await writeText(join(folder, 'memory.swap.max'), 0);
    await writeText(join(folder, 'pids.max'), limits.pids);
    await writeText(join(folder, 'cpu.max'), `${cpuQuotaUs(limits.cpuPercent)} ${cpuPeriodUs}`);
  } catch (error) {
    await removeCgroupFolder(folder).catch(() => undefined);
    throw error;
  }
  return new V2Cgroup(folder);
}

class V2Cgroup implements JobCgroup {
  readonly procsFiles: string[];

  constructor(private readonly folder: string) {
    this.procsFiles = [join(folder, 'cgroup.procs')];
  }

  async stats(): Promise<CgroupStats> {
    const cpu = parseKeyValues(await readOptional(join(this.folder, 'cpu.stat')));
    const memoryEvents = parseKeyValues(await readOptional(join(this.folder, 'memory.events')));
    const pidsEvents = parseKeyValues(await readOptional(join(this.folder, 'pids.events')));
    // NOTE: memory.peak exists from Linux 5.19 on. Older kernels only offer
    // memory.current, which after the job ended is far below the real peak.
    const peak = (await readOptional(join(this.folder, 'memory.peak'))) ?? (await readOptional(join(this.folder, 'memory.current')));
    return {
      cpuTimeMs: Math.round((cpu.get('usage_usec') ?? 0) / 1000),
      peakMemoryBytes: Number(peak ?? 0),
      oomKilled: (memoryEvents.get('oom_kill') ?? 0) > 0,
      pidsLimitHit: (pidsEvents.get('max') ?? 0) > 0,
    };
  }

  /** Writes `cgroup.kill` (Linux 5.14+); on older kernels freezes, sends SIGKILL to each pid and thaws. */
  async killAll(): Promise<void> {
    const procs = this.procsFiles[0];
    const killFile = join(this.folder, 'cgroup.kill');
    if (await fileExists(killFile)) {
      await writeText(killFile, 1);
    } else {
      await this.signalAll('SIGKILL');
    }
    if (!(await waitUntilEmpty(procs, settleMs))) {
      throw new Error(`processes are still in ${procs} after killing the cgroup`);
    }
  }

  async signalAll(signal: NodeJS.Signals, exceptPid?: number): Promise<void> {
    const freeze = join(this.folder, 'cgroup.freeze');
    await writeText(freeze, 1);
    try {
      await this.waitForFrozen();
      signalPids(parsePids(await readOptional(this.procsFiles[0])).filter((pid) => pid !== exceptPid), signal);
    } finally {
      await writeText(freeze, 0);
    }
  }

  async remove(): Promise<void> {
    await removeCgroupFolder(this.folder);
  }

  private async waitForFrozen(): Promise<void> {
    const deadline = Date.now() + settleMs;
    const events = join(this.folder, 'cgroup.events');
    while (parseKeyValues(await readText(events)).get('frozen') !== 1 && Date.now() < deadline) {
      await sleep(2);
    }
  }
}
