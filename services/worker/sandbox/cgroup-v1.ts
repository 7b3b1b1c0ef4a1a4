import { mkdirSync } from 'node:fs';
import { mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cachedUntilRejected } from '../promise-cache.js';
import {
  cpuPeriodUs,
  cpuQuotaUs,
  fileExists,
  groupFolder,
  killPids,
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

/** cgroup v1 controllers the sandbox needs, each mounted as its own folder under the cgroup root. */
export const v1Controllers = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer'] as const;
type Controller = (typeof v1Controllers)[number];

/** How long `killAll` waits for the freezer to report FROZEN and for the cgroup to empty. */
const settleMs = 2_000;

/** Mount folder of each controller's hierarchy, and whether the kernel accounts swap. It is read once per root. */
interface V1Layout {
  hierarchies: Record<Controller, string>;
  memsw: boolean;
}

const layouts = new Map<string, Promise<V1Layout>>();

function v1Layout(root: string): Promise<V1Layout> {
  return cachedUntilRejected(layouts, root, () => readV1Layout(root));
}

/** Returns the `faas` folders of the v1 hierarchies at `root`, one per hierarchy, making any that is missing. */
export async function v1GroupFolders(root: string): Promise<string[]> {
  const { hierarchies } = await v1Layout(root);
  return [...new Set(Object.values(hierarchies).map((hierarchy) => join(hierarchy, groupFolder)))];
}

async function readV1Layout(root: string): Promise<V1Layout> {
  const hierarchies = {} as Record<Controller, string>;
  for (const controller of v1Controllers) {
    hierarchies[controller] = await realpath(join(root, controller));
    await mkdir(join(hierarchies[controller], groupFolder), { recursive: true });
  }
  return { hierarchies, memsw: await fileExists(join(hierarchies.memory, groupFolder, 'memory.memsw.limit_in_bytes')) };
}

/**
 * Creates `<root>/<controller>/faas/<name>` for each controller and writes
 * the limits. Where two controllers share one hierarchy (a `cpu,cpuacct`
 * mount with `cpu` and `cpuacct` links to it), the folder is made once.
 */
export async function createV1Cgroup(root: string, name: string, limits: CgroupLimits): Promise<JobCgroup> {
  try {
    return await createInLayout(await v1Layout(root), name, limits);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // A parent folder was removed since the layout was read: make it again.
    layouts.delete(root);
    return createInLayout(await v1Layout(root), name, limits);
  }
}

async function createInLayout(layout: V1Layout, name: string, limits: CgroupLimits): Promise<JobCgroup> {
  const folders = {} as Record<Controller, string>;
  const created: string[] = [];
  for (const controller of v1Controllers) {
    folders[controller] = join(layout.hierarchies[controller], groupFolder, name);
  }
  // Controllers that share a hierarchy share one folder.
  const distinctFolders = [...new Set(Object.values(folders))];
  try {
    for (const folder of distinctFolders) {
      mkdirSync(folder);
      created.push(folder);
    }

    await Promise.all([
      // The memory+swap limit must not be below the memory limit, so it is written second.
      writeText(join(folders.memory, 'memory.limit_in_bytes'), limits.memoryBytes).then(() =>
        layout.memsw ? writeText(join(folders.memory, 'memory.memsw.limit_in_bytes'), limits.memoryBytes) : undefined,
      ),
      writeText(join(folders.pids, 'pids.max'), limits.pids),
      // The quota is checked against the period, so the period goes first.
      writeText(join(folders.cpu, 'cpu.cfs_period_us'), cpuPeriodUs).then(() => writeText(join(folders.cpu, 'cpu.cfs_quota_us'), cpuQuotaUs(limits.cpuPercent))),
    ]);
  } catch (error) {
    for (const folder of created.reverse()) await removeCgroupFolder(folder).catch(() => undefined);
    throw error;
  }
  return new V1Cgroup(folders, created);
}

class V1Cgroup implements JobCgroup {
  readonly procsFiles: string[];

  constructor(
    private readonly folders: Record<Controller, string>,
    private readonly created: string[],
  ) {
    this.procsFiles = created.map((folder) => join(folder, 'cgroup.procs'));
  }

  async stats(): Promise<CgroupStats> {
    const [usage, peak, oom, pidsEvents] = await Promise.all([
      readText(join(this.folders.cpuacct, 'cpuacct.usage')),
      readText(join(this.folders.memory, 'memory.max_usage_in_bytes')),
      readOptional(join(this.folders.memory, 'memory.oom_control')),
      readOptional(join(this.folders.pids, 'pids.events')),
    ]);
    return {
      cpuTimeMs: Math.round(Number(usage) / 1e6),
      peakMemoryBytes: Number(peak),
      oomKilled: (parseKeyValues(oom).get('oom_kill') ?? 0) > 0,
      pidsLimitHit: (parseKeyValues(pidsEvents).get('max') ?? 0) > 0,
    };
  }

  /**
   * Freezes the cgroup so no process can fork while the list is read,
   * sends SIGKILL to every pid, then thaws it so the signals are delivered.
   */
  async killAll(): Promise<void> {
    const procs = join(this.folders.freezer, 'cgroup.procs');
    if (parsePids(await readOptional(procs)).length === 0) return;

    await this.signalAll('SIGKILL');
    if (!(await waitUntilEmpty(procs, settleMs))) {
      // A process that was forking while the freezer settled can survive one pass.
      killPids(parsePids(await readOptional(procs)));
      if (!(await waitUntilEmpty(procs, settleMs))) {
        throw new Error(`processes are still in ${procs} after SIGKILL`);
      }
    }
  }

  async signalAll(signal: NodeJS.Signals, exceptPid?: number): Promise<void> {
    const procs = join(this.folders.freezer, 'cgroup.procs');
    const state = join(this.folders.freezer, 'freezer.state');
    await writeText(state, 'FROZEN');
    try {
      await waitForFrozen(state);
      signalPids(parsePids(await readOptional(procs)).filter((pid) => pid !== exceptPid), signal);
    } finally {
      await writeText(state, 'THAWED');
    }
  }

  async remove(): Promise<void> {
    await Promise.all(this.created.map((folder) => removeCgroupFolder(folder)));
  }
}

async function waitForFrozen(stateFile: string): Promise<void> {
  const deadline = Date.now() + settleMs;
  // The state reads FREEZING until every task has stopped.
  while ((await readText(stateFile)) !== 'FROZEN' && Date.now() < deadline) {
    await sleep(2);
  }
}
