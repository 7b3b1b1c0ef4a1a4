import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readAddress, readBool, readDurationMs, readInt, readString } from '../../common/config.js';
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
  /** WORKER_KEEP_JOB_DIRS: keep job folders after the job, for debugging. Default false. */
  keepJobDirs: boolean;
  /** FAAS_TLS_CA, FAAS_TLS_CERT, FAAS_TLS_KEY: the certificate the worker presents to the scheduler. */
  tls?: MeshTlsConfig;
}

export function readWorkerConfig(env: Record<string, string | undefined> = process.env): WorkerConfig {
  const schedulerAddress = readAddress(env, 'FAAS_SCHEDULER', '127.0.0.1:50052');
  const tls = readMeshTls(env);
  if (!tls) checkPlaintext(env, 'FAAS_SCHEDULER', schedulerAddress);
  return {
    schedulerAddress,
    tls,
    workerId: readString(env, 'WORKER_ID', `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`),
    slots: readInt(env, 'WORKER_SLOTS', 2, 1, 64),
    workDir: readString(env, 'WORKER_WORK_DIR', join(tmpdir(), 'faas-worker')),
    cloneTimeoutMs: readDurationMs(env, 'FAAS_CLONE_TIMEOUT', 120_000, 1_000, 3_600_000),
    outputCapBytes: readInt(env, 'FAAS_OUTPUT_CAP', 1024 * 1024, 1024, maxOutputCapBytes),
    allowHttp: readBool(env, 'FAAS_ALLOW_HTTP', false),
    shutdownGraceMs: readDurationMs(env, 'WORKER_SHUTDOWN_GRACE', 30_000, 0, 86_400_000),
    keepJobDirs: readBool(env, 'WORKER_KEEP_JOB_DIRS', false),
  };
}
