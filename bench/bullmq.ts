import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import type { BaselineJobData } from './bullmq-worker.js';
import { forEachConcurrent } from '../common/concurrency.js';
import { startProcess, type BenchProcess } from './processes.js';
import type { RedisServer } from './redis.js';
import type { Isolation } from './sandboxed-command.js';

const workerEntry = fileURLToPath(new URL('./bullmq-worker.ts', import.meta.url));
const workerStartTimeoutMs = 30_000;

/** End of a job, with the time its event arrived (performance.now()). */
interface Finished {
  failed: boolean;
  reason?: string;
  atMs: number;
}

/**
 * The BullMQ baseline: a queue on Redis, a worker in its own process with a
 * fixed concurrency, and the producer here. Keys live under a prefix unique
 * to this run; `stop` deletes them.
 */
export class BullmqBaseline {
  private constructor(
    readonly redis: RedisServer,
    private readonly prefix: string,
    private readonly queue: Queue<BaselineJobData>,
    private readonly events: QueueEvents,
    private readonly worker: BenchProcess,
    private readonly finished: Map<string, Finished>,
  ) {}

  get workerPid(): number {
    return this.worker.pid;
  }

  /** Starts the worker process and the queue client; `workRoot` must have searchable ancestors for sandboxed runs. */
  static async start(redis: RedisServer, options: { concurrency: number; workRoot: string; uidBase: number; logDir: string }): Promise<BullmqBaseline> {
    const prefix = `faas-bench-${randomBytes(4).toString('hex')}`;
    const queueName = 'trivial';
    const connection = { host: redis.host, port: redis.port };
    const worker = startProcess('bullmq-worker', process.execPath, ['--import', 'tsx', workerEntry], {
      logFile: join(options.logDir, 'bullmq-worker.log'),
      env: {
        ...process.env,
        BENCH_REDIS_HOST: redis.host,
        BENCH_REDIS_PORT: String(redis.port),
        BENCH_QUEUE: queueName,
        BENCH_PREFIX: prefix,
        BENCH_CONCURRENCY: String(options.concurrency),
        BENCH_WORK_ROOT: options.workRoot,
        BENCH_UID_BASE: String(options.uidBase),
      },
    });
    const queue = new Queue<BaselineJobData>(queueName, { connection, prefix });
    const events = new QueueEvents(queueName, { connection, prefix });
    const finished = new Map<string, Finished>();
    events.on('completed', ({ jobId }) => finished.set(jobId, { failed: false, atMs: performance.now() }));
    events.on('failed', ({ jobId, failedReason }) => finished.set(jobId, { failed: true, reason: failedReason, atMs: performance.now() }));
    try {
      await worker.waitForOutput('ready', workerStartTimeoutMs);
      await queue.waitUntilReady();
      await events.waitUntilReady();
    } catch (error) {
      await worker.stop();
      await queue.close();
      await events.close();
      await redis.deleteKeys(prefix);
      throw error;
    }
    return new BullmqBaseline(redis, prefix, queue, events, worker, finished);
  }

  /**
   * Adds `count` jobs with `producers` adds in flight and waits until the
   * worker has finished them all. Returns the time from the first add to the
   * last completion event, in ms. Throws when a job failed.
   */
  async runRound(count: number, producers: number, isolation: Isolation, signal: AbortSignal): Promise<number> {
    const ids: string[] = [];
    const started = performance.now();
    await forEachConcurrent(
      count,
      producers,
      async () => {
        const job = await this.queue.add('trivial', { isolation });
        ids.push(job.id!);
      },
      signal,
    );
    const pending = new Set(ids);
    let lastDoneMs = started;
    for (;;) {
      for (const id of [...pending]) {
        const outcome = this.finished.get(id);
        if (!outcome) continue;
        if (outcome.failed) throw new Error(`BullMQ job ${id} failed: ${outcome.reason}`);
        lastDoneMs = Math.max(lastDoneMs, outcome.atMs);
        pending.delete(id);
        this.finished.delete(id);
      }
      if (pending.size === 0) return lastDoneMs - started;
      if (signal.aborted) throw new Error(`stopped with ${pending.size} BullMQ job(s) unfinished`);
      // Completion times come from the events, so this poll interval does not bound the accuracy.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the worker, removes the queue and deletes every key under this run's prefix. */
  async stop(): Promise<void> {
    await this.worker.stop();
    await this.events.close();
    await this.queue.obliterate({ force: true }).catch(() => undefined);
    await this.queue.close();
    await this.redis.deleteKeys(this.prefix);
  }
}
