import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError, readAddress, readBool, readBytes, readDurationMs, readInt, readString } from '../../common/config.js';
import { parseCidr } from './address-guard.js';
import { checkPlaintext, readMeshTls, type MeshTlsConfig } from '../../common/tls.js';

/** Largest FAAS_OUTPUT_CAP: stdout and stderr at this size still fit in one 8 MiB message. */
export const maxOutputCapBytes = 2 * 1024 * 1024;

export interface WorkerConfig {
  /** FAAS_SCHEDULER: scheduler address to connect to. Default 127.0.0.1:50052. */
  schedulerAddress: string;
  /** WORKER_ID: unique name of this worker. Default hostname-pid-random. */
  workerId: string;
  /** WORKER_SLOTS: jobs run at once. Default 2, from 1 to 64. */
  slots: number;
  /** WORKER_WORK_DIR: parent folder of the per-job folders. Default <tmp>/faas-worker. */
  workDir: string;
  /** FAAS_CLONE_TIMEOUT: limit for fetching a repository. Default 120s. */
  cloneTimeoutMs: number;
  /** FAAS_OUTPUT_CAP: bytes of stdout and of stderr kept in a result. Default 1 MiB, at most 2 MiB so a result fits in one message. */
  outputCapBytes: number;
  /** FAAS_ALLOW_HTTP: clone plain http:// URLs, not only https://. Default false. */
  allowHttp: boolean;
  /** WORKER_SHUTDOWN_GRACE: how long SIGTERM lets running jobs finish before handing them back. Default 30s. */
  shutdownGraceMs: number;
  /**
   * WORKER_STOP_GRACE: how long a cancelled or timed-out job's processes have
   * after SIGTERM before SIGKILL. Default 10s, and 0 sends SIGKILL at once.
   */
  stopGraceMs: number;
  /** WORKER_KEEP_JOB_DIRS: keep job folders after the job, for debugging. Default false. */
  keepJobDirs: boolean;
  /** FAAS_TLS_CA, FAAS_TLS_CERT, FAAS_TLS_KEY: the certificate the worker presents to the scheduler. */
  tls?: MeshTlsConfig;
  /** FAAS_ALLOWED_ADDRESSES: comma-separated CIDRs a repository may resolve to besides public addresses. Default none; the local stack allows loopback. */
  allowedAddresses: string[];
  /** FAAS_CLONE_MAX_BYTES: largest checkout. Default 512MiB. */
  cloneMaxBytes: number;
  /** FAAS_CACHE: keep fetched repositories between jobs (`on`) or fetch each job's repository afresh (`off`). Default on. */
  cacheEnabled: boolean;
  /** FAAS_CACHE_DIR: parent folder of the repository cache; each worker process uses its own numbered subfolder. Default <WORKER_WORK_DIR>/repo-cache. */
  cacheDir?: string;
  /** FAAS_CACHE_MAX_BYTES: disk space of one worker's repository cache, past which the least recently used entries are evicted. Default 1GiB. */
  cacheMaxBytes: number;
  /**
   * FAAS_CACHE_REF_REUSE: how long a branch or tag looked up on a repository
   * may serve other jobs of that ref, each only if it was submitted before
   * the lookup started. 0 looks the ref up for every job. Default 10s.
   */
  cacheRefReuseMs: number;
  /** FAAS_OUTPUT_LIMIT: output a job may write before it is stopped. Default 64MiB. */
  outputLimitBytes: number;
  /** FAAS_ALLOW_NETWORK: grant network to jobs that ask for it. Default false. */
  allowNetwork: boolean;
  /** FAAS_ALLOW_UNSANDBOXED: start and run jobs without a sandbox where none works. Default false. */
  allowUnsandboxed: boolean;
  /** FAAS_SANDBOX_UID_BASE: host uid of slot 0 in block 0 of 64 uids. The worker that claims block K runs slot N as base + 64 K + N. Default 61000. */
  sandboxUidBase: number;
  /** FAAS_SANDBOX_LOCK_DIR: folder of the locks by which the workers of a host claim their uid blocks. Default /run/faas/sandbox-uids. */
  sandboxLockDir: string;
  /** Defaults (FAAS_DEFAULT_*) and maximums (FAAS_MAX_*) of the per-job limits. */
  limits: { defaults: ResourceLimits; maximums: ResourceLimits };
}

/** Resource limits of one job, in the units of their names. */
export interface ResourceLimits {
  memoryBytes: number;
  pids: number;
  cpuPercent: number;
  fileSizeBytes: number;
  openFiles: number;
  diskBytes: number;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function readLimits(env: Record<string, string | undefined>): WorkerConfig['limits'] {
  const maximums: ResourceLimits = {
    memoryBytes: readBytes(env, 'FAAS_MAX_MEMORY', 4 * GiB, 16 * MiB, 1024 * GiB),
    pids: readInt(env, 'FAAS_MAX_PIDS', 4096, 8, 1_000_000),
    cpuPercent: readInt(env, 'FAAS_MAX_CPU_PERCENT', 400, 1, 100_000),
    fileSizeBytes: readBytes(env, 'FAAS_MAX_FILE_SIZE', 4 * GiB, MiB, 1024 * GiB),
    openFiles: readInt(env, 'FAAS_MAX_OPEN_FILES', 65_536, 64, 1_048_576),
    diskBytes: readBytes(env, 'FAAS_MAX_DISK', 16 * GiB, 16 * MiB, 1024 * GiB),
  };
  const defaults: ResourceLimits = {
    memoryBytes: readBytes(env, 'FAAS_DEFAULT_MEMORY', 512 * MiB, 16 * MiB, maximums.memoryBytes),
    pids: readInt(env, 'FAAS_DEFAULT_PIDS', 256, 8, maximums.pids),
    cpuPercent: readInt(env, 'FAAS_DEFAULT_CPU_PERCENT', 100, 1, maximums.cpuPercent),
    fileSizeBytes: readBytes(env, 'FAAS_DEFAULT_FILE_SIZE', 256 * MiB, MiB, maximums.fileSizeBytes),
    openFiles: readInt(env, 'FAAS_DEFAULT_OPEN_FILES', 1024, 64, maximums.openFiles),
    diskBytes: readBytes(env, 'FAAS_DEFAULT_DISK', GiB, 16 * MiB, maximums.diskBytes),
  };
  return { defaults, maximums };
}

function readCidrs(env: Record<string, string | undefined>, name: string): string[] {
  const cidrs = readString(env, name, '').split(',').map((cidr) => cidr.trim()).filter(Boolean);
  for (const cidr of cidrs) {
    try {
      parseCidr(cidr);
    } catch {
      throw new ConfigError(`${name} contains "${cidr}", which is not an address range; use CIDRs such as 127.0.0.0/8,::1/128`);
    }
  }
  return cidrs;
}

export function readWorkerConfig(env: Record<string, string | undefined> = process.env): WorkerConfig {
  const schedulerAddress = readAddress(env, 'FAAS_SCHEDULER', '127.0.0.1:50052');
  const tls = readMeshTls(env);
  if (!tls) checkPlaintext(env, 'FAAS_SCHEDULER', schedulerAddress);
  return {
    schedulerAddress,
    tls,
    allowedAddresses: readCidrs(env, 'FAAS_ALLOWED_ADDRESSES'),
    cloneMaxBytes: readBytes(env, 'FAAS_CLONE_MAX_BYTES', 512 * MiB, MiB, 1024 * GiB),
    cacheEnabled: readBool(env, 'FAAS_CACHE', true),
    cacheDir: readString(env, 'FAAS_CACHE_DIR', '') || undefined,
    cacheMaxBytes: readBytes(env, 'FAAS_CACHE_MAX_BYTES', GiB, MiB, 64 * 1024 * GiB),
    cacheRefReuseMs: readDurationMs(env, 'FAAS_CACHE_REF_REUSE', 10_000, 0, 3_600_000),
    outputLimitBytes: readBytes(env, 'FAAS_OUTPUT_LIMIT', 64 * MiB, 64 * 1024, 64 * GiB),
    allowNetwork: readBool(env, 'FAAS_ALLOW_NETWORK', false),
    allowUnsandboxed: readBool(env, 'FAAS_ALLOW_UNSANDBOXED', false),
    sandboxUidBase: readInt(env, 'FAAS_SANDBOX_UID_BASE', 61_000, 1_000, 4_000_000_000),
    sandboxLockDir: readString(env, 'FAAS_SANDBOX_LOCK_DIR', '/run/faas/sandbox-uids'),
    limits: readLimits(env),
    workerId: readString(env, 'WORKER_ID', `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`),
    slots: readInt(env, 'WORKER_SLOTS', 2, 1, 64),
    workDir: readString(env, 'WORKER_WORK_DIR', join(tmpdir(), 'faas-worker')),
    cloneTimeoutMs: readDurationMs(env, 'FAAS_CLONE_TIMEOUT', 120_000, 1_000, 3_600_000),
    outputCapBytes: readBytes(env, 'FAAS_OUTPUT_CAP', 1024 * 1024, 1024, maxOutputCapBytes),
    allowHttp: readBool(env, 'FAAS_ALLOW_HTTP', false),
    shutdownGraceMs: readDurationMs(env, 'WORKER_SHUTDOWN_GRACE', 30_000, 0, 86_400_000),
    stopGraceMs: readDurationMs(env, 'WORKER_STOP_GRACE', 10_000, 0, 3_600_000),
    keepJobDirs: readBool(env, 'WORKER_KEEP_JOB_DIRS', false),
  };
}
