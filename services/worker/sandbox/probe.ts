import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runProcess, type ProcessResult } from '../process.js';
import { createJobCgroup, defaultCgroupRoot, detectCgroups, type CgroupLimits, type JobCgroup } from './cgroups.js';
import { buildSandboxCommand, sandboxJobDir } from './command.js';
import { prepareJobDir, type SandboxUser } from './users.js';

/** Isolation the worker can give jobs, found by running a probe job at start-up. */
export interface IsolationReport {
  /** 'sandboxed' only when every check passed. */
  level: 'sandboxed' | 'none';
  /** Result of each check, by name: started, unprivilegedUser, noNetwork, pidNamespace, hostRootHidden, cgroupLimits. */
  checks: Record<string, boolean>;
  /** Failed checks, described in words an operator can act on. */
  problems: string[];
}

export interface ProbeOptions {
  /** Folder in which a temporary probe job folder is made; every ancestor must be searchable by other users. */
  workRoot: string;
  /** User the probe runs as, normally one of the worker's slots. */
  user: SandboxUser;
  /** Default `/sys/fs/cgroup`. */
  cgroupRoot?: string;
  /** Time after which the probe is killed, in ms. Default 10,000. */
  timeoutMs?: number;
  /** The sandbox entry that jobs start through (`SandboxPrograms.enter`); without it, the shell chain. */
  enter?: string;
}

/** Limits of the probe's cgroup; the probe checks that the memory limit reads back. */
const probeLimits: CgroupLimits = { memoryBytes: 64 << 20, pids: 16, cpuPercent: 50 };

/** Prints the probe's view of the system as `key=value` lines and writes a file whose host owner is checked. */
const probeScript = [
  'echo "uid=$(id -u)"',
  'echo "pid=$$"',
  'echo "processes=$(ls /proc | grep -c "^[0-9]")"',
  'echo "interfaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\\n" " ")"',
  'if [ -e /root ]; then echo root=visible; else echo root=hidden; fi',
  `echo probe > ${sandboxJobDir}/probe-owner`,
].join('\n');

/**
 * Runs a tiny job through the full sandbox and checks its view. The job must
 * run as the unprivileged slot uid on the host and see only `lo`. It must be
 * pid 1 or 2 in its own pid namespace and not see /root. Its cgroup's memory
 * limit must read back as set, and the job must be charged to that cgroup.
 * A failed check goes into the report; only a failure to create or prepare
 * the probe folder throws.
 */
export async function probeIsolation(options: ProbeOptions): Promise<IsolationReport> {
  const checks: Record<string, boolean> = {
    started: false,
    unprivilegedUser: false,
    noNetwork: false,
    pidNamespace: false,
    hostRootHidden: false,
    cgroupLimits: false,
  };
  const problems: string[] = [];
  const cgroupRoot = options.cgroupRoot ?? defaultCgroupRoot;
  const { uid, gid } = options.user;

  await mkdir(options.workRoot, { recursive: true });
  const jobDir = await mkdtemp(join(options.workRoot, 'probe-'));
  let cgroup: JobCgroup | undefined;
  try {
    await prepareJobDir(jobDir, uid, gid);
    const support = await detectCgroups(cgroupRoot);
    if (support.usable) {
      cgroup = await createJobCgroup(`probe-${process.pid}-${Date.now()}`, probeLimits, cgroupRoot);
    } else {
      problems.push(`cgroups are not usable: ${support.problem}`);
    }

    const result = await runProbe(jobDir, options, cgroup?.procsFiles ?? []);
    const seen = parseLines(result.stdout.toString());
    checks.started = result.exitCode === 0;
    if (!checks.started) {
      const reason = result.startError?.message ?? result.stderr.toString().trim().slice(0, 500);
      problems.push(`the probe job failed (exit code ${result.exitCode ?? result.signal}): ${reason}`);
    }

    const owner = await stat(join(jobDir, 'probe-owner')).catch(() => undefined);
    checks.unprivilegedUser = owner !== undefined && owner.uid === uid && uid !== 0 && seen.get('uid') === String(uid);
    if (checks.started && !checks.unprivilegedUser) problems.push(`the probe's file is owned by host uid ${owner?.uid}, expected ${uid}`);

    const interfaces = (seen.get('interfaces') ?? '').split(' ').filter(Boolean);
    checks.noNetwork = interfaces.length === 1 && interfaces[0] === 'lo';
    if (checks.started && !checks.noNetwork) problems.push(`the probe sees network interfaces ${interfaces.join(', ')}, expected only lo`);

    const pid = Number(seen.get('pid'));
    const processes = Number(seen.get('processes'));
    checks.pidNamespace = pid >= 1 && pid <= 2 && processes <= 5;
    if (checks.started && !checks.pidNamespace) problems.push(`the probe is pid ${pid} and sees ${processes} processes: no pid namespace`);

    checks.hostRootHidden = seen.get('root') === 'hidden';
    if (checks.started && !checks.hostRootHidden) problems.push('the probe can see /root');

    if (cgroup) checks.cgroupLimits = await checkCgroupLimits(cgroup, problems);
  } finally {
    if (cgroup) {
      await cgroup.killAll().catch((error: Error) => problems.push(error.message));
      await cgroup.remove().catch((error: Error) => problems.push(error.message));
    }
    await rm(jobDir, { recursive: true, force: true });
  }

  const level = Object.values(checks).every(Boolean) ? 'sandboxed' : 'none';
  return { level, checks, problems };
}

async function runProbe(jobDir: string, options: ProbeOptions, procsFiles: string[]): Promise<ProcessResult> {
  const command = buildSandboxCommand({
    uid: options.user.uid,
    gid: options.user.gid,
    jobDir,
    workDir: jobDir,
    env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' },
    network: false,
    rlimits: { fileSizeBytes: 1 << 20, openFiles: 64 },
    procsFiles,
    argv: ['/bin/sh', '-c', probeScript],
    enter: options.enter,
  });
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  return runProcess({
    file: command.file,
    args: command.args,
    cwd: '/',
    env: command.env,
    input: Buffer.alloc(0),
    signal: timeout,
    onOutput: async () => undefined,
    captureBytes: 64 * 1024,
  });
}

/** Checks that the memory limit file next to a procs file reads back the probe's limit and that the probe was charged to it. */
async function checkCgroupLimits(cgroup: JobCgroup, problems: string[]): Promise<boolean> {
  for (const procsFile of cgroup.procsFiles) {
    const folder = dirname(procsFile);
    const limit =
      (await readFile(join(folder, 'memory.limit_in_bytes'), 'utf8').catch(() => undefined)) ??
      (await readFile(join(folder, 'memory.max'), 'utf8').catch(() => undefined));
    if (limit === undefined) continue;
    if (Number(limit.trim()) !== probeLimits.memoryBytes) {
      problems.push(`the probe's memory limit reads ${limit.trim()}, expected ${probeLimits.memoryBytes}`);
      return false;
    }
    const stats = await cgroup.stats();
    if (stats.peakMemoryBytes <= 0) {
      problems.push('the probe was not charged to its cgroup: its peak memory reads 0');
      return false;
    }
    return true;
  }
  problems.push('no memory limit file found in the probe cgroup');
  return false;
}

function parseLines(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return values;
}
