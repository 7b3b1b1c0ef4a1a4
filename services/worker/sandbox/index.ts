export {
  createJobCgroup,
  defaultCgroupRoot,
  detectCgroups,
  type CgroupLimits,
  type CgroupStats,
  type CgroupSupport,
  type JobCgroup,
} from './cgroups.js';
export { buildSandboxCommand, sandboxJobDir, type IdentityFiles, type SandboxCommand, type SandboxOptions } from './command.js';
export { buildSandboxPrograms, type SandboxPrograms } from './programs.js';
export { measureDiskUsage, watchDiskUsage, type DiskUsage, type DiskWatcher, type DiskWatchOptions } from './disk.js';
export { probeIsolation, type IsolationReport, type ProbeOptions } from './probe.js';
export { runSandboxed, type SandboxedRunOptions, type SandboxedRunResult } from './run.js';
export { prepareJobDir, sandboxUser, writeIdentityFiles, type SandboxUser } from './users.js';
