import { Kvm } from '@nats-io/kv';
import { newJobId } from '../common/ids.js';
import { Job, JobState } from '../gen/faas/v1/job.js';
import { FinishedIndex } from '../services/scheduler/finished-index.js';
import type { Budget } from './budget.js';
import type { Platform } from './platform.js';
import { measurement, pairedRatios, type BenchmarkResult, type Measurement } from './results.js';
import { median } from './stats.js';

export interface ListPageOptions {
  rounds: number;
  /** Finished jobs of the owner when each size is measured, smallest first. */
  sizes: number[];
  /** List calls of each kind per round. */
  calls: number;
}

/** Jobs are spread over the last six days, inside the scheduler's default retention of seven. */
const spreadMs = 6 * 86_400_000;
const pageSize = 50;
/** Records and index entries written at once while seeding. */
const seedBatch = 500;

/**
 * Benchmark of List: how long a page takes when the caller has few and
 * many finished jobs. The jobs are written straight into the job and
 * index buckets, as the scheduler writes them when a job finishes, because
 * running 20,000 jobs would take minutes. Then List goes through the
 * gateway with the owner's token, as a user's call does.
 */
export async function benchListPage(platform: Platform, options: ListPageOptions, budget: Budget): Promise<BenchmarkResult> {
  const started = performance.now();
  const owner = await platform.throughputOwner();
  const jobs = await new Kvm(platform.js).open(platform.names.jobsBucket);
  const index = new FinishedIndex(await new Kvm(platform.js).open(platform.names.indexBucket), platform.jsm, platform.names.indexBucket, spreadMs * 2);
  const seeded: string[] = [];
  const firstPages = new Map<number, number[]>();
  const deepPages = new Map<number, number[]>();
  let error: string | undefined;

  const timeList = async (before: string | undefined): Promise<number> => {
    const start = performance.now();
    const page = await platform.throughputClient.list({ pageSize, pageToken: before, signal: budget.signal });
    const elapsed = performance.now() - start;
    if (page.jobs.length !== pageSize) throw new Error(`List returned ${page.jobs.length} jobs, expected a full page of ${pageSize}`);
    return elapsed;
  };

  try {
    const nowMs = Date.now();
    for (const size of options.sizes) {
      while (seeded.length < size) {
        budget.check();
        const batch = Array.from({ length: Math.min(seedBatch, size - seeded.length) }, () => finishedJob(owner, nowMs - Math.random() * spreadMs));
        await Promise.all(batch.map(async (job) => {
          await jobs.put(job.id, Job.encode(job).finish());
          await index.add(job);
        }));
        seeded.push(...batch.map((job) => job.id));
      }
      platform.tracker.forget(seeded);
      // The page token of a page halfway through the owner's jobs: the id before it.
      const middle = [...seeded].sort().reverse()[Math.floor(size / 2)];
      // One untimed call of each kind first.
      await timeList(undefined);
      await timeList(middle);
      const first: number[] = [];
      const deep: number[] = [];
      for (let round = 0; round < options.rounds; round++) {
        const roundFirst: number[] = [];
        const roundDeep: number[] = [];
        for (let call = 0; call < options.calls; call++) {
          budget.check();
          roundFirst.push(await timeList(undefined));
          roundDeep.push(await timeList(middle));
        }
        first.push(median(roundFirst));
        deep.push(median(roundDeep));
      }
      firstPages.set(size, first);
      deepPages.set(size, deep);
    }
  } catch (caught) {
    error = (caught as Error).message;
  }

  const measurements: Measurement[] = [];
  for (const size of options.sizes) {
    measurements.push(measurement(`first-${size}`, `First page, ${size.toLocaleString('en-US')} finished jobs`, 'ms', 'min-max', firstPages.get(size) ?? []));
    measurements.push(measurement(`deep-${size}`, `Page halfway, ${size.toLocaleString('en-US')} finished jobs`, 'ms', 'min-max', deepPages.get(size) ?? []));
  }
  const smallest = options.sizes[0];
  const largest = options.sizes.at(-1)!;
  measurements.push(
    measurement(
      'ratio',
      `First page with ${largest.toLocaleString('en-US')} / with ${smallest.toLocaleString('en-US')} finished jobs`,
      'x',
      'min-max',
      pairedRatios(firstPages.get(largest) ?? [], firstPages.get(smallest) ?? []),
    ),
  );
  return {
    id: 'list-page',
    title: 'List: a page with few and with many finished jobs',
    method:
      `Finished jobs of one owner, created at random times over the last six days, are written into the job and index buckets as the scheduler writes them, up to each size in turn (${options.sizes.join(', ')}). ` +
      `Each round then times ${options.calls} List calls of ${pageSize} jobs through the gateway with the owner's token, for the first page and for the page halfway through. A figure is the median of the rounds' medians.`,
    measurements,
    notes: ['the jobs never ran: their records and index entries were written straight into NATS'],
    error,
    elapsedMs: performance.now() - started,
  };
}

function finishedJob(owner: string, createdMs: number): Job {
  const createdAt = new Date(createdMs);
  return Job.fromPartial({
    id: newJobId(createdMs),
    owner,
    state: JobState.JOB_STATE_SUCCEEDED,
    createdAt,
    updatedAt: new Date(createdMs + 1_000),
    startedAt: createdAt,
    finishedAt: new Date(createdMs + 1_000),
    attempt: 1,
    exitCode: 0,
    spec: { repositoryUrl: 'http://127.0.0.1/bench/list.git', command: ['sh', '-c', 'true'] },
  });
}
