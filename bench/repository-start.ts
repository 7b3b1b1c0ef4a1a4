import { isFinal } from '../common/job-states.js';
import { JobPhase, JobState } from '../gen/faas/v1/job.js';
import type { Budget } from './budget.js';
import type { Platform } from './platform.js';
import { measurement, pairedRatios, type BenchmarkResult } from './results.js';
import { median } from './stats.js';

export interface RepositoryStartOptions {
  rounds: number;
  /** Jobs per round of each kind, run one after another. */
  jobs: number;
}

interface StartTimes {
  /** Clone time the worker reports in the job's result, in ms. */
  cloneMs: number;
  /** Submit accepted to the first Watch record in phase RUNNING (after fetching and preparing the folder), in ms. */
  toRunningMs: number;
}

/** Job kinds of the benchmark, in the order each round runs them. */
const cachedKinds = ['cached-head', 'cached-commit', 'new-url'] as const;
type Kind = 'fresh' | (typeof cachedKinds)[number];

const labels: Record<Kind, string> = {
  fresh: 'Fresh shallow clone (FAAS_CACHE=off)',
  'cached-head': 'Cached repository, ref HEAD',
  'cached-commit': 'Cached repository, ref a full commit id',
  'new-url': 'Cache miss (a new URL, same files)',
};

/**
 * Benchmark 4: job start from a repository in the worker's cache against a
 * fresh shallow clone of the same repository. First a worker with the cache
 * off (FAAS_CACHE=off) runs the fresh clones. Then a worker with the cache
 * on runs jobs from the cached repository, with ref HEAD and with the full
 * commit id. Each HEAD job looks the ref up on the git server again, because
 * it is submitted after the previous lookup. Each round also
 * runs cache misses, on new URLs with the same files. Jobs run one at a
 * time, and the benchmark leaves the cache-on, sandboxed worker in place.
 */
export async function benchRepositoryStart(platform: Platform, options: RepositoryStartOptions, budget: Budget): Promise<BenchmarkResult> {
  const started = performance.now();
  const times = new Map<Kind, StartTimes[]>([['fresh', []], ...cachedKinds.map((kind): [Kind, StartTimes[]] => [kind, []])]);
  const roundMedians = new Map<Kind, number[]>([...times.keys()].map((kind) => [kind, []]));
  let error: string | undefined;

  const runRound = async (kinds: readonly Kind[], urls: Record<Kind, () => Promise<string>>, ref: (kind: Kind) => string) => {
    const roundTimes = new Map<Kind, number[]>(kinds.map((kind) => [kind, []]));
    for (let i = 0; i < options.jobs; i++) {
      for (const kind of kinds) {
        budget.check();
        const url = await urls[kind]();
        const start = await startJob(platform, url, ref(kind), budget.signal);
        times.get(kind)!.push(start);
        roundTimes.get(kind)!.push(start.cloneMs);
      }
    }
    for (const kind of kinds) roundMedians.get(kind)!.push(median(roundTimes.get(kind)!));
  };

  try {
    // Copies for the cache misses are made before the timing, since making one runs git.
    const copies: string[] = [];
    for (let i = 0; i < options.rounds * options.jobs; i++) copies.push(await platform.copyRepository());
    const urls: Record<Kind, () => Promise<string>> = {
      fresh: async () => platform.repositoryUrl,
      'cached-head': async () => platform.repositoryUrl,
      'cached-commit': async () => platform.repositoryUrl,
      'new-url': async () => copies.shift()!,
    };
    const ref = (kind: Kind) => (kind === 'cached-commit' ? platform.repositoryCommit : '');

    await platform.useWorker('sandboxed', budget.signal, { cache: false });
    for (let round = 0; round < options.rounds; round++) await runRound(['fresh'], urls, ref);
    // The warm-up job of the new worker puts the repository in its cache.
    await platform.useWorker('sandboxed', budget.signal);
    for (let round = 0; round < options.rounds; round++) await runRound(cachedKinds, urls, ref);
  } catch (caught) {
    error = (caught as Error).message;
  }

  const cloneValues = (kind: Kind) => times.get(kind)!.map((start) => start.cloneMs);
  const runningValues = (kind: Kind) => times.get(kind)!.map((start) => start.toRunningMs);
  const allKinds: Kind[] = ['fresh', ...cachedKinds];
  return {
    id: 'repository-start',
    title: 'Job start: cached repository against a fresh shallow clone',
    method:
      `Each round runs ${options.jobs} jobs of each kind one at a time, all running \`sh -c true\`. First a worker with FAAS_CACHE=off runs fresh shallow clones. ` +
      'Then a worker with the cache on runs the same repository with ref HEAD and with its full commit id, and cache misses on new URLs with the same files. ' +
      'Figures: the clone time the worker reports in the result (cloneMs), and the time from Submit accepted to phase RUNNING on Watch. ' +
      'Times are pooled over rounds. The ratios pair round N of the fresh clones with round N of the cached jobs.',
    measurements: [
      ...allKinds.map((kind) => measurement(`${kind}-clone`, `${labels[kind]}: clone time`, 'ms', 'p25-p75', cloneValues(kind))),
      ...allKinds.map((kind) => measurement(`${kind}-running`, `${labels[kind]}: Submit to phase RUNNING`, 'ms', 'p25-p75', runningValues(kind))),
      measurement('ratio', 'Fresh clone / cached (ref HEAD) clone time', 'x', 'min-max', pairedRatios(roundMedians.get('fresh')!, roundMedians.get('cached-head')!)),
      measurement('ratio-commit', 'Fresh clone / cached (commit id) clone time', 'x', 'min-max', pairedRatios(roundMedians.get('fresh')!, roundMedians.get('cached-commit')!)),
    ],
    notes: ['the fresh clones and the cached jobs run on two worker processes one after the other, so the ratio pairs rounds that are not adjacent in time'],
    error,
    elapsedMs: performance.now() - started,
  };
}

async function startJob(platform: Platform, repositoryUrl: string, ref: string, signal: AbortSignal): Promise<StartTimes> {
  const { job } = await platform.client.submit({ ...platform.trivialSpec(repositoryUrl), ref }, { signal });
  const acceptedAt = performance.now();
  let toRunningMs: number | undefined;
  for await (const record of platform.client.watch(job!.id, { signal })) {
    if (toRunningMs === undefined && record.phase === JobPhase.JOB_PHASE_RUNNING) toRunningMs = performance.now() - acceptedAt;
    if (isFinal(record.state)) break;
  }
  const { job: finished, result } = await platform.client.result(job!.id, { signal });
  platform.tracker.forget([job!.id]);
  if (finished!.state !== JobState.JOB_STATE_SUCCEEDED || !result) {
    throw new Error(`job ${job!.id} ended ${JobState[finished!.state]}: ${finished!.error?.message ?? 'no message'}`);
  }
  if (toRunningMs === undefined) throw new Error(`job ${job!.id} finished without a record in phase RUNNING on Watch`);
  return { cloneMs: result.cloneMs, toRunningMs };
}
