import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { WorkerStatus } from '../../gen/faas/scheduler/v1/pool_service.js';
import type { Logger } from '../../common/logger.js';
import { workerNodeFlags } from '../../common/node-flags.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
// Compiled (npm run build), the observer starts the compiled worker with plain node.
const compiled = import.meta.url.endsWith('.js');
const workerEntry = join(root, 'services', 'worker', compiled ? 'main.js' : 'main.ts');
const workerArgs = [...workerNodeFlags, ...(compiled ? [workerEntry] : ['--import', 'tsx', workerEntry])];

/** A worker process this actuator started, possibly in an earlier run of the observer. */
interface ManagedWorker {
  workerId: string;
  pid: number;
  startedAtMs: number;
  /** SIGTERM was sent; the worker is draining. */
  stopping: boolean;
  /** Started by an earlier run of the observer, so its exit status is not known here. */
  adopted?: boolean;
}

export interface ActuatorOptions {
  /** Folder for the record of started workers (one file each) and their logs. */
  stateDir: string;
  /** Environment of every started worker, on top of this process's. */
  workerEnv: Record<string, string>;
  log: Logger;
}

/**
 * Starts and stops worker processes on this machine to follow the observer's
 * decision. Each started worker is recorded in a file, so an observer that
 * restarts adopts the workers it started before instead of orphaning or
 * doubling them. Scale-in only ever stops idle workers, with SIGTERM, which
 * makes them drain; a worker running a job is never stopped.
 */
export class LocalActuator {
  private readonly workers = new Map<string, ManagedWorker>();
  /** Set by `stopAll`: a decision still in flight starts no worker after it. */
  private closed = false;

  private constructor(private readonly options: ActuatorOptions) {}

  static async open(options: ActuatorOptions): Promise<LocalActuator> {
    const actuator = new LocalActuator(options);
    await mkdir(join(options.stateDir, 'workers'), { recursive: true });
    await actuator.adopt();
    return actuator;
  }

  /** Workers started and still alive, draining ones excluded. */
  get activeCount(): number {
    this.forgetExited();
    return [...this.workers.values()].filter((worker) => !worker.stopping).length;
  }

  /** Returns how many started workers have not connected to a scheduler yet. */
  startingCount(connected: WorkerStatus[]): number {
    this.forgetExited();
    const ids = new Set(connected.map((status) => status.workerId));
    return [...this.workers.values()].filter((worker) => !worker.stopping && !ids.has(worker.workerId)).length;
  }

  /**
   * Starts or stops workers so that `desired` are active. Stops only idle
   * workers (no busy slot in `connected`), newest first; busy ones stay until
   * a later round finds them idle.
   */
  async reconcile(desired: number, connected: WorkerStatus[]): Promise<void> {
    for (let count = this.activeCount; count < desired && !this.closed; count++) await this.startWorker();
    if (this.closed) return;
    const active = [...this.workers.values()].filter((worker) => !worker.stopping);

    let excess = this.activeCount - desired;
    if (excess <= 0) return;
    const statuses = new Map(connected.map((status) => [status.workerId, status]));
    const idle = active
      .filter((worker) => statuses.get(worker.workerId)?.busySlots === 0)
      .sort((a, b) => b.startedAtMs - a.startedAtMs);
    for (const worker of idle) {
      if (excess-- <= 0) break;
      this.stopWorker(worker, 'stopping an idle worker');
    }
  }

  /** Stops every worker this actuator started (for `npm start`'s own shutdown). */
  async stopAll(): Promise<void> {
    this.closed = true;
    for (const worker of this.workers.values()) this.stopWorker(worker, 'stopping a worker, as the observer stops');
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && [...this.workers.values()].some((worker) => isAlive(worker.pid))) {
      await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    }
    this.forgetExited();
  }

  private async startWorker(): Promise<void> {
    if (this.closed) return;
    // Named like a worker's default id, with "scaled" for the observer that started it.
    const workerId = `${hostname()}-scaled-${randomBytes(3).toString('hex')}`;
    // The worker writes to its log file itself, so its log goes on after an observer restart.
    const logFd = openSync(join(this.options.stateDir, `${workerId}.log`), 'a');
    let child;
    try {
      child = spawn(process.execPath, workerArgs, {
        cwd: root,
        // The observer's own endpoint and service name are not the worker's.
        env: { ...process.env, FAAS_METRICS_ADDRESS: '', OTEL_SERVICE_NAME: '', ...this.options.workerEnv, WORKER_ID: workerId },
        stdio: ['ignore', logFd, logFd],
        // The workers outlive an observer restart; the records let the next run adopt them.
        detached: true,
      });
    } finally {
      closeSync(logFd);
    }
    child.unref();
    const worker: ManagedWorker = { workerId, pid: child.pid!, startedAtMs: Date.now(), stopping: false };
    this.workers.set(workerId, worker);
    child.once('exit', (code, signal) => {
      if (!worker.stopping) this.options.log.warn({ workerId, workerPid: worker.pid, code, signal }, 'a worker exited without being asked to');
      this.forgetExited();
    });
    // Through a new file renamed into place, so an observer killed meanwhile leaves no half-written record.
    const record = this.recordPath(workerId);
    await writeFile(`${record}.tmp`, JSON.stringify(worker));
    await rename(`${record}.tmp`, record);
    this.options.log.info({ workerId, workerPid: worker.pid }, 'started a worker');
  }

  private stopWorker(worker: ManagedWorker, message: string): void {
    if (worker.stopping) return;
    worker.stopping = true;
    try {
      process.kill(worker.pid, 'SIGTERM');
      this.options.log.info({ workerId: worker.workerId, workerPid: worker.pid }, message);
    } catch {
      // It already exited.
    }
  }

  /** Adopts the workers recorded by an earlier run that are still alive. */
  private async adopt(): Promise<void> {
    const folder = join(this.options.stateDir, 'workers');
    for (const name of await readdir(folder)) {
      const path = join(folder, name);
      const record = await readRecord(path);
      if (!record) {
        this.options.log.warn({ path }, 'removed a worker record that cannot be read, as one left by an observer killed while it wrote it');
        await rm(path, { force: true });
        continue;
      }
      if (await isOurWorker(record.pid)) {
        this.workers.set(record.workerId, { ...record, stopping: false, adopted: true });
        this.options.log.info({ workerId: record.workerId, workerPid: record.pid }, 'adopted a worker started earlier');
      } else {
        await rm(path, { force: true });
      }
    }
  }

  private forgetExited(): void {
    for (const worker of [...this.workers.values()]) {
      if (isAlive(worker.pid)) continue;
      // The exit of an adopted worker, which is not this process's child, is seen only here, without its status.
      if (worker.adopted && !worker.stopping) this.options.log.warn({ workerId: worker.workerId, workerPid: worker.pid }, 'a worker started earlier has exited');
      this.workers.delete(worker.workerId);
      void rm(this.recordPath(worker.workerId), { force: true });
    }
  }

  private recordPath(workerId: string): string {
    return join(this.options.stateDir, 'workers', `${workerId}.json`);
  }
}

/** Reads a worker record; undefined when the file is not one (empty, cut short, or a leftover temporary file). */
async function readRecord(path: string): Promise<ManagedWorker | undefined> {
  if (!path.endsWith('.json')) return undefined;
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as Partial<ManagedWorker>;
    if (typeof record.workerId !== 'string' || !Number.isSafeInteger(record.pid) || record.pid! <= 0 || typeof record.startedAtMs !== 'number') return undefined;
    return record as ManagedWorker;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // Signal 0 still reaches a zombie, though it has exited.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Tells whether `pid` is a live worker process, not an unrelated process that reused the pid. */
async function isOurWorker(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(workerEntry);
}
