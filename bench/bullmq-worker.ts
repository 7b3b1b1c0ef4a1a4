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
import { TrivialCommandRunner, type Isolation } from './sandboxed-command.js';

/** Data of a baseline job. */
export interface BaselineJobData {
  isolation: Isolation;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; bench/bullmq.ts sets it when it starts this worker`);
  return value;
}

const concurrency = Number(required('BENCH_CONCURRENCY'));
const runner = await TrivialCommandRunner.create(required('BENCH_WORK_ROOT'), concurrency, Number(required('BENCH_UID_BASE')));
const worker = new Worker<BaselineJobData>(
  required('BENCH_QUEUE'),
  async (job: Job<BaselineJobData>) => {
    await runner.run(job.data.isolation);
    return { exitCode: 0 };
  },
  {
    connection: { host: required('BENCH_REDIS_HOST'), port: Number(required('BENCH_REDIS_PORT')), maxRetriesPerRequest: null },
    prefix: required('BENCH_PREFIX'),
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
