import { JobState } from '../gen/faas/v1/job.js';
import type { Budget } from './budget.js';
import type { BullmqBaseline } from './bullmq.js';
import { forEachConcurrent } from '../common/concurrency.js';
import { workerSlots, type Platform } from './platform.js';
import { measurement, pairedRatios, type BenchmarkResult } from './results.js';
import { CpuPerUnit } from './cpu-time.js';
import type { SampledProcess } from './rss.js';
import type { BareBaseline } from './bare.js';
import type { Isolation } from './sandboxed-command.js';
import { ratePerSecond } from './stats.js';

export interface EndToEndOptions {
  rounds: number;
  /** Jobs per round for each of the three systems. */
  jobs: number;
  /** Jobs each system runs, untimed, before the first round. */
  warmUpJobs: number;
  /** Submit (or add) calls in flight while a round's jobs are queued. */
  producers: number;
}

/** The systems of benchmark 2 besides the platform. */
export interface Baselines {
  bare: BareBaseline;
  /** Missing when Redis could not be reached or started; `bullmqProblem` gives the reason. */
  bullmq?: BullmqBaseline;
  bullmqProblem?: string;
}

/**
 * Benchmark 2: trivial jobs (`sh -c true`) per second end to end with
 * `workerSlots` slots, for one isolation. The platform round submits with
 * `producers` calls in flight and lasts until every job is final. The bare
 * round spawns the same command with `child_process.spawn`, from a process
 * of its own, as many at once as there are slots, and the BullMQ round runs
 * it with the same concurrency. Each round runs the three one after another, so noise hits
 * them alike. Before the first round each system runs `warmUpJobs` jobs
 * untimed, so that the rounds measure processes whose hot code V8 has
 * already compiled, as in a platform that runs for days. The platform's
 * worker is a new process for each isolation.
 *
 * It also reads from /proc the CPU time per job of each platform process in
 * `processes`, with the children of the worker (git) and of its launcher
 * (the sandboxed commands). For the baselines it reads the children of the
 * bare baseline's process and the BullMQ worker process with its children.
 * `onPlatformRound` brackets the platform's part, for memory sampling.
 */
export async function benchEndToEnd(
  platform: Platform,
  baselines: Baselines,
  isolation: Isolation,
  options: EndToEndOptions,
  budget: Budget,
  processes: () => SampledProcess[],
  onPlatformRound: (phase: 'start' | 'end') => void = () => undefined,
): Promise<BenchmarkResult> {
  const started = performance.now();
  const platformRates: number[] = [];
  const bareRates: number[] = [];
  const bullmqRates: number[] = [];
  const notes: string[] = [];
  const cpuPerJob = new CpuPerUnit(options.jobs, 'job');
  let error: string | undefined;

  try {
    await platformRound(platform, { ...options, jobs: options.warmUpJobs }, budget);
    await baselines.bare.runRound(options.warmUpJobs, isolation, budget.remainingMs);
    await baselines.bullmq?.runRound(options.warmUpJobs, options.producers, isolation, budget.signal);
    for (let round = 0; round < options.rounds; round++) {
      budget.check();
      const platformProcesses = processes();
      // The git server, which serves the ref lookups, runs in a process of its own with git http-backend as its children.
      const gitServer = [{ name: 'git-server', pid: platform.git.pid }];
      onPlatformRound('start');
      await cpuPerJob.begin([...platformProcesses, ...gitServer]);
      try {
        platformRates.push(await platformRound(platform, options, budget));
        await cpuPerJob.end([...platformProcesses, ...gitServer]);
      } finally {
        onPlatformRound('end');
      }

      budget.check();
      const bareProcess = [{ name: 'bare', pid: baselines.bare.pid }];
      await cpuPerJob.begin(bareProcess);
      bareRates.push(ratePerSecond(options.jobs, await baselines.bare.runRound(options.jobs, isolation, budget.remainingMs)));
      await cpuPerJob.end(bareProcess, 'children');

      if (baselines.bullmq) {
        budget.check();
        const bullmqProcess = [{ name: 'bullmq-worker', pid: baselines.bullmq.workerPid }];
        await cpuPerJob.begin(bullmqProcess);
        const redisBefore = await baselines.bullmq.redis.cpuMs();
        const elapsedMs = await baselines.bullmq.runRound(options.jobs, options.producers, isolation, budget.signal);
        bullmqRates.push(ratePerSecond(options.jobs, elapsedMs));
        await cpuPerJob.end(bullmqProcess);
        cpuPerJob.addReported('redis-server', (await baselines.bullmq.redis.cpuMs()) - redisBefore);
      }
    }
  } catch (caught) {
    error = (caught as Error).message;
  }
  if (!baselines.bullmq) notes.push(`BullMQ was not measured: ${baselines.bullmqProblem ?? 'no Redis server'}`);

  const sandboxWords = isolation === 'sandboxed' ? 'in the worker\'s sandbox (a cgroup, the sandbox entry, bubblewrap and the sandbox init)' : 'with no sandbox';
  return {
    id: `end-to-end-${isolation}`,
    title: `Jobs per second end to end, ${isolation === 'sandboxed' ? 'sandbox on' : 'sandbox off'}`,
    method:
      `Each round runs ${options.jobs} jobs of \`sh -c true\` ${sandboxWords} through each system, ${workerSlots} at once. ` +
      `Before the first round each system runs ${options.warmUpJobs} such jobs untimed, so that the rounds measure warm processes, as in a service that runs for days. ` +
      'Without it the first rounds of the platform spend up to a quarter of their CPU compiling hot code. ' +
      `The platform has 1 worker of ${workerSlots} slots with its repository cache on, filled by the job that starts it. Every job has ref HEAD. The worker looks it up on the git server, and one lookup serves the jobs submitted before it started (FAAS_CACHE_REF_REUSE, default 10s). ` +
      `The platform round submits with ${options.producers} calls in flight and lasts from the first Submit to the last job seen final in the job bucket. ` +
      `The bare baseline spawns the same command with child_process.spawn, ${workerSlots} at once, from a process of its own, since a fork costs more the larger the forking process. ` +
      `BullMQ on Redis has a worker process of concurrency ${workerSlots}, and its round adds with ${options.producers} calls in flight and lasts until the last completed event. ` +
      'The CPU of redis-server is the time it reports in INFO cpu; a shared server counts the work of its other clients too.',
    measurements: [
      measurement('platform', 'Platform (Submit to final)', 'jobs/s', 'min-max', platformRates),
      measurement('bare', 'Bare child_process.spawn', 'jobs/s', 'min-max', bareRates),
      measurement('bullmq', 'BullMQ on Redis', 'jobs/s', 'min-max', bullmqRates),
      measurement('ratio-bare', 'Platform / bare spawn (paired rounds)', 'x', 'min-max', pairedRatios(platformRates, bareRates)),
      measurement('ratio-bullmq', 'Platform / BullMQ (paired rounds)', 'x', 'min-max', pairedRatios(platformRates, bullmqRates)),
      ...cpuPerJob.measurements(),
    ],
    notes,
    error,
    elapsedMs: performance.now() - started,
  };
}

/** Submits `jobs` trivial jobs and returns jobs per second from the first Submit to the last final state. */
async function platformRound(platform: Platform, options: EndToEndOptions, budget: Budget): Promise<number> {
  const signal = budget.signal;
  const jobIds: string[] = [];
  const roundStart = performance.now();
  try {
    await forEachConcurrent(
      options.jobs,
      options.producers,
      async () => {
        const { job } = await platform.client.submit(platform.trivialSpec(), { signal });
        jobIds.push(job!.id);
      },
      signal,
    );
    const finals = await platform.tracker.waitForFinal(jobIds, signal);
    const failed = [...finals].filter(([, final]) => final.state !== JobState.JOB_STATE_SUCCEEDED);
    if (failed.length > 0) {
      const [jobId, final] = failed[0];
      throw new Error(`${failed.length} of ${jobIds.length} platform jobs did not succeed; job ${jobId} ended ${JobState[final.state]}`);
    }
    const lastFinal = Math.max(...[...finals.values()].map((final) => final.atMs));
    return ratePerSecond(jobIds.length, lastFinal - roundStart);
  } catch (error) {
    // Jobs left behind would run into the next measurement.
    await platform.cancelAll(jobIds, options.producers, budget.cleanupSignal());
    throw error;
  } finally {
    platform.tracker.forget(jobIds);
  }
}
