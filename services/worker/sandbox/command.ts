import { isAbsolute, relative, resolve } from 'node:path';
import { sandboxInitPath } from './init.js';

/** Path at which the job folder appears inside the sandbox. */
export const sandboxJobDir = '/job';

/** Host name inside the sandbox. */
export const sandboxHostname = 'faas-job';

/** Host paths of the minimal /etc/passwd and /etc/group shown to the job (see `writeIdentityFiles`). */
export interface IdentityFiles {
  passwd: string;
  group: string;
}

export interface SandboxOptions {
  /** Unprivileged host uid the job runs as; root (0) is rejected. */
  uid: number;
  gid: number;
  /** Host folder mounted writable at `/job`; it must belong to `uid`. */
  jobDir: string;
  /** Host folder inside `jobDir` that the program starts in. */
  workDir: string;
  /** The job's entire environment: nothing of the worker's is passed on. */
  env: Record<string, string>;
  /** Share the host's network namespace. False gives the job a namespace with only `lo`. */
  network: boolean;
  rlimits: {
    /** Largest file the job may write, in bytes (RLIMIT_FSIZE). */
    fileSizeBytes: number;
    /** Maximum open file descriptors per process (RLIMIT_NOFILE). */
    openFiles: number;
  };
  /** `cgroup.procs` files the sandbox joins before it drops root (`JobCgroup.procsFiles`). */
  procsFiles: string[];
  /** Program and arguments, with paths as seen inside the sandbox. */
  argv: string[];
  /** Shown as /etc/passwd and /etc/group so tools can name the job's user; none when omitted. */
  identityFiles?: IdentityFiles;
  /**
   * Host path of the sandbox init (see `buildSandboxPrograms`), which then runs
   * as the sandbox's first process instead of bubblewrap's own, and reports
   * how the program ended on descriptor 3.
   */
  init?: string;
  /**
   * Host path of the sandbox entry (see `buildSandboxPrograms`), which joins
   * the cgroups, sets the rlimits and drops to `uid` in place of the shell,
   * prlimit and setpriv.
   */
  enter?: string;
}

/** A program to spawn, with the environment to spawn it with. */
export interface SandboxCommand {
  file: string;
  args: string[];
  /**
   * Environment for the spawned sandbox launcher. It must stay this small,
   * because bubblewrap's own init process keeps it, and the job runs as the
   * same uid and can read that process's /proc/1/environ.
   */
  env: Record<string, string>;
}

/**
 * Files from the host's /etc mounted into every job. `ld.so.cache` lets the
 * dynamic loader find libraries without scanning every folder, and
 * `alternatives` contains the links behind names such as `cc`, `c++` and `awk`.
 */
const etcFiles = ['/etc/ld.so.cache', '/etc/alternatives'];

/**
 * Files a job with network access needs for name resolution and TLS.
 * /etc/ssl/certs contains only public CA certificates; /etc/ssl/private is not bound.
 */
const networkEtcFiles = ['/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/gai.conf', '/etc/ssl/certs', '/etc/ca-certificates.conf'];

/**
 * Writes the shell's pid into the first `count` arguments (cgroup.procs
 * paths), then execs the remaining arguments. The paths arrive as positional
 * parameters, so the shell never parses them, and `exec` keeps the pid.
 */
const joinCgroupsScript = [
  'count=$1; shift',
  'while [ "$count" -gt 0 ]; do',
  '  echo $$ > "$1" || { echo "sandbox: joining cgroup $1 failed" >&2; exit 125; }',
  '  shift; count=$((count - 1))',
  'done',
  'exec "$@"',
].join('\n');

/**
 * Builds the command that runs `argv` in a sandbox. The sandbox entry (or,
 * without it, a root shell, prlimit and setpriv) joins the job's cgroups,
 * sets rlimits and drops to `uid` with no capabilities. Then bubblewrap (0.8) starts the program in new user, pid,
 * ipc, uts (named `faas-job`), cgroup and (unless `network`) network namespaces, with a
 * read-only root and /usr, a private /tmp, a private /dev and the job
 * folder at `/job`.
 *
 * bubblewrap is never started as root, because a root-started bubblewrap
 * maps the job's uid to host uid 0.
 */
export function buildSandboxCommand(options: SandboxOptions): SandboxCommand {
  checkOptions(options);
  const workInside = resolve(sandboxJobDir, relative(options.jobDir, options.workDir));

  const prlimit = [
    'prlimit',
    `--fsize=${options.rlimits.fileSizeBytes}`,
    `--nofile=${options.rlimits.openFiles}`,
    '--core=0',
    '--',
  ];
  const setpriv = [
    'setpriv',
    `--reuid=${options.uid}`,
    `--regid=${options.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
  ];
  const namespaces = ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup'];
  if (!options.network) namespaces.push('--unshare-net');
  if (options.init !== undefined) namespaces.push('--as-pid-1');

  const bwrap = [
    'bwrap',
    ...namespaces,
    '--disable-userns',
    '--die-with-parent',
    '--new-session',
    // The UTS namespace would otherwise keep the host's name.
    '--hostname', sandboxHostname,
    '--clearenv',
    ...Object.entries(options.env).flatMap(([name, value]) => ['--setenv', name, value]),
    '--ro-bind', '/usr', '/usr',
    '--symlink', 'usr/bin', '/bin',
    '--symlink', 'usr/sbin', '/sbin',
    '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64',
    ...etcFiles.flatMap((path) => ['--ro-bind-try', path, path]),
    ...(options.network ? networkEtcFiles.flatMap((path) => ['--ro-bind-try', path, path]) : []),
    ...(options.identityFiles
      ? ['--ro-bind', options.identityFiles.passwd, '/etc/passwd', '--ro-bind', options.identityFiles.group, '/etc/group']
      : []),
    '--proc', '/proc',
    '--dev', '/dev',
    '--tmpfs', '/tmp',
    '--bind', options.jobDir, sandboxJobDir,
    ...(options.init !== undefined ? ['--ro-bind', options.init, sandboxInitPath] : []),
    // The root is a tmpfs that bubblewrap made for the mount points; without this the job could add files to /etc.
    '--remount-ro', '/',
    '--chdir', workInside,
    '--',
    ...(options.init !== undefined ? [sandboxInitPath] : []),
    ...options.argv,
  ];

  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
  if (options.enter !== undefined) {
    const { uid, gid, rlimits, procsFiles } = options;
    const entry = [uid, gid, rlimits.fileSizeBytes, rlimits.openFiles, procsFiles.length].map(String);
    return { file: options.enter, args: [...entry, ...procsFiles, ...bwrap], env };
  }
  return {
    file: '/bin/sh',
    args: ['-c', joinCgroupsScript, 'sandbox', String(options.procsFiles.length), ...options.procsFiles, ...prlimit, ...setpriv, ...bwrap],
    env,
  };
}

function checkOptions(options: SandboxOptions): void {
  for (const field of ['uid', 'gid'] as const) {
    const value = options[field];
    if (!Number.isSafeInteger(value) || value <= 0 || value >= 2 ** 32 - 1) {
      throw new RangeError(`invalid ${field} ${value}: expected an unprivileged id above 0`);
    }
  }
  if (!isAbsolute(options.jobDir)) throw new RangeError(`invalid jobDir ${JSON.stringify(options.jobDir)}: expected an absolute path`);
  const inside = relative(resolve(options.jobDir), resolve(options.workDir));
  if (!isAbsolute(options.workDir) || inside.startsWith('..') || isAbsolute(inside)) {
    throw new RangeError(`invalid workDir ${JSON.stringify(options.workDir)}: expected an absolute path inside jobDir ${options.jobDir}`);
  }
  for (const field of ['fileSizeBytes', 'openFiles'] as const) {
    const value = options.rlimits[field];
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`invalid rlimits.${field} ${value}: expected a positive integer`);
  }
  if (options.argv.length === 0) throw new RangeError('invalid argv: expected at least the program to run');
  for (const field of ['init', 'enter'] as const) {
    const path = options[field];
    if (path !== undefined && !isAbsolute(path)) throw new RangeError(`invalid ${field} ${JSON.stringify(path)}: expected an absolute path`);
  }
  for (const path of options.procsFiles) {
    if (!isAbsolute(path)) throw new RangeError(`invalid procs file ${JSON.stringify(path)}: expected an absolute path`);
  }
  for (const name of Object.keys(options.env)) {
    if (name === '' || name.includes('=') || name.includes('\0')) throw new RangeError(`invalid environment variable name ${JSON.stringify(name)}`);
  }
}
