/**
 * BullMQ worker process of the end-to-end baseline. It takes jobs from one
 * queue with a fixed concurrency and runs the trivial command for each,
 * sandboxed or bare as the job's data sets. `bench/bullmq.ts` starts and
 * stops it, and it prints "ready" once it is connected.
 *
 * Environment: BENCH_REDIS_HOST, BENCH_REDIS_PORT, BENCH_QUEUE, BENCH_PREFIX,
 * BENCH_CONCURRENCY, BENCH_WORK_ROOT (folder for the slot job folders) and
 * BENCH_UID_BASE (host uid of slot 0).
 */
import { Worker, type Job } from 'bullmq';
import { requiredEnv } from './processes.js';
import { TrivialCommandRunner, type Isolation } from './sandboxed-command.js';

/** Data of a baseline job. */
export interface BaselineJobData {
  isolation: Isolation;
}

/** Reads a variable that bench/bullmq.ts sets when it starts this process. */
const setting = (name: string) => requiredEnv(name, 'bench/bullmq.ts');

const concurrency = Number(setting('BENCH_CONCURRENCY'));
const runner = await TrivialCommandRunner.create(setting('BENCH_WORK_ROOT'), concurrency, Number(setting('BENCH_UID_BASE')));
const worker = new Worker<BaselineJobData>(
  setting('BENCH_QUEUE'),
  async (job: Job<BaselineJobData>) => {
    await runner.run(job.data.isolation);
    return { exitCode: 0 };
  },
  {
    connection: { host: setting('BENCH_REDIS_HOST'), port: Number(setting('BENCH_REDIS_PORT')), maxRetriesPerRequest: null },
    prefix: setting('BENCH_PREFIX'),
    concurrency,
  },
);
worker.on('error', (error) => console.error(`bullmq worker error: ${error.message}`));
await worker.waitUntilReady();
console.log('ready');

const stop = async () => {
  await worker.close();
  await runner.remove();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
