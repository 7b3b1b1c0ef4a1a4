import { existsSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { checkCgroupName, checkLimits, fileExists, groupFolder, readText, type CgroupLimits, type JobCgroup } from './cgroup-files.js';
import { createV1Cgroup, v1Controllers, v1GroupFolders } from './cgroup-v1.js';
import { createV2Cgroup, v2Controllers } from './cgroup-v2.js';

export type { CgroupLimits, CgroupStats, JobCgroup } from './cgroup-files.js';

export const defaultCgroupRoot = '/sys/fs/cgroup';

/** Layout of the cgroup file system at a root, and whether job cgroups can be made under it. */
export interface CgroupSupport {
  /** 2 when `root` contains `cgroup.controllers` (unified layout) or no cgroup file system at all, otherwise 1. */
  version: 1 | 2;
  usable: boolean;
  /** Reason job cgroups cannot be made, when `usable` is false. */
  problem?: string;
}

/**
 * Detects the cgroup layout at `root`. v1 needs the memory, pids, cpu,
 * cpuacct and freezer hierarchies; v2 needs the memory, pids and cpu
 * controllers available at `root`. Both need `root` to be writable.
 */
export async function detectCgroups(root: string = defaultCgroupRoot): Promise<CgroupSupport> {
  if (await fileExists(join(root, 'cgroup.controllers'))) {
    const available = (await readText(join(root, 'cgroup.controllers'))).split(/\s+/);
    const missing = v2Controllers.filter((controller) => !available.includes(controller));
    if (missing.length > 0) {
      return { version: 2, usable: false, problem: `cgroup v2 at ${root} lacks the ${missing.join(', ')} controller(s): delegate a subtree that has them` };
    }
    const writable = await checkWritable(root);
    return writable ? { version: 2, usable: false, problem: writable } : { version: 2, usable: true };
  }

  const present: string[] = [];
  for (const controller of v1Controllers) {
    if (await fileExists(join(root, controller, 'cgroup.procs'))) present.push(controller);
  }
  if (present.length === 0) {
    return { version: 2, usable: false, problem: `no cgroup file system found at ${root}` };
  }
  const missing = v1Controllers.filter((controller) => !present.includes(controller));
  if (missing.length > 0) {
    return { version: 1, usable: false, problem: `cgroup v1 at ${root} lacks the ${missing.join(', ')} hierarchy(ies)` };
  }
  for (const controller of v1Controllers) {
    const problem = await checkWritable(join(root, controller));
    if (problem) return { version: 1, usable: false, problem };
  }
  return { version: 1, usable: true };
}

/**
 * Creates the cgroup of one job, `<controller>/faas/<name>` in v1 or
 * `faas/<name>` in v2, with `limits` applied. Throws when the layout at
 * `root` is unusable or the name is taken.
 */
export async function createJobCgroup(name: string, limits: CgroupLimits, root: string = defaultCgroupRoot): Promise<JobCgroup> {
  checkCgroupName(name);
  checkLimits(limits);
  let version = usableVersions.get(root);
  if (version === undefined) {
    const support = await detectCgroups(root);
    if (!support.usable) throw new Error(`cannot create job cgroup ${name}: ${support.problem}`);
    version = support.version;
    usableVersions.set(root, version);
  }
  return version === 1 ? createV1Cgroup(root, name, limits) : createV2Cgroup(root, name, limits);
}

/**
 * Removes the job cgroups under `faas` that contain no process and were made
 * more than `olderThanMs` ago, and returns how many it removed. Workers
 * killed during a job leave them behind. Workers on one host share the
 * `faas` folder, so a cgroup is never judged by its name. The kernel does
 * not remove a cgroup that contains a process (EBUSY), and the age spares a
 * cgroup that another worker made and has not filled yet.
 */
export async function removeStaleJobCgroups(olderThanMs: number, root: string = defaultCgroupRoot): Promise<number> {
  const support = await detectCgroups(root);
  if (!support.usable) return 0;
  const parents = support.version === 2 ? [join(root, groupFolder)] : await v1GroupFolders(root);
  const cutoffMs = Date.now() - olderThanMs;
  let removed = 0;
  for (const parent of parents) {
    if (!existsSync(parent)) continue;
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const folder = join(parent, entry.name);
      try {
        if (statSync(folder).ctimeMs > cutoffMs) continue;
        rmdirSync(folder);
        removed++;
      } catch (error) {
        // A cgroup in use, a folder that is not a cgroup, or one removed meanwhile stays as it is.
        if (!['EBUSY', 'ENOTEMPTY', 'ENOENT'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
      }
    }
  }
  return removed;
}

/** Layout versions of roots found usable; the layout of a mounted cgroup file system does not change while the worker runs. */
const usableVersions = new Map<string, 1 | 2>();

async function checkWritable(folder: string): Promise<string | undefined> {
  try {
    await access(folder, constants.W_OK);
    return undefined;
  } catch (error) {
    return `${folder} is not writable: ${(error as Error).message}`;
  }
}
