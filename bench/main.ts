/**
 * `npm run bench`: measures the platform against its baselines on this
 * machine, in one run, and reports the figures.
 *
 *   npm run bench -- [--quick] [--rounds N] [--only list,submit,dispatch,start,end-to-end]
 *                    [--cpu-prof] [--keep-data] [--no-write]
 *
 * It compares Submit throughput with raw JetStream publishes and with two
 * bare gRPC hops (the floor of a Submit's path), dispatch
 * latency with JetStream publish-to-consume, and job start from a cached
 * repository with a fresh shallow clone. It measures end-to-end jobs per
 * second against bare spawn and BullMQ, with the sandbox on and off, the
 * resident memory of each service, and how a List page's time grows with
 * the caller's finished jobs. It prints a table, writes bench/results/<start>-<mode>.json and
 * rewrites docs/benchmarks.md after a full run (unless --no-write). Every benchmark has fixed
 * counts and a time limit, and every process started here is stopped by pid
 * at the end, also after an error or Ctrl-C.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Budget, BudgetExceededError } from './budget.js';
import { BullmqBaseline } from './bullmq.js';
import { printProfiles, summarizeProfiles } from './cpu-profile.js';
import { benchDispatchLatency } from './dispatch-latency.js';
import { writeBenchmarkPage } from './docs.js';
import { benchEndToEnd } from './end-to-end.js';
import { describeMachine } from './machine.js';
import { MemoryBenchmark } from './memory.js';
import { readSettings, type BenchSettings } from './options.js';
import { Platform, workerSlots } from './platform.js';
import { openRedis, type RedisServer } from './redis.js';
import { printReport } from './report.js';
import { benchRepositoryStart } from './repository-start.js';
import { benchListPage } from './list-page.js';
import type { BenchmarkResult, Measurement } from './results.js';
import { writeRunResult, type RunResult } from './run-result.js';
import { BareBaseline } from './bare.js';
import { benchSubmitThroughput } from './submit-throughput.js';
import { evaluateTargets } from './targets.js';
import { dispatchBreakdown } from './timeline.js';
import { onStopSignals } from '../dev/stop-signals.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const profileHook = fileURLToPath(new URL('./cpu-profile-hook.ts', import.meta.url));
/** Host uids of the baselines' slots, apart from the benchmark worker's (62100) and the worker default (61000). */
const bareUidBase = 62_000;
const bullmqUidBase = 62_010;

function log(message: string): void {
  console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function main(): Promise<number> {
  let settings: BenchSettings;
  try {
    settings = readSettings();
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const interrupt = new AbortController();
  onStopSignals(
    (signal) => {
      log(`${signal} received; stopping and cleaning up (send it again to exit at once)`);
      interrupt.abort();
    },
    // The exit hooks SIGKILL every child by pid.
    () => process.exit(130),
  );

  // The platform's services run compiled, as a deployment runs them.
  log('compiling the services into dist/ (npm run build)');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('npm run build failed; the benchmarks need the compiled services');
    return 1;
  }

  const startedAt = new Date();
  const started = performance.now();
  const machine = await describeMachine();
  const profileDir = settings.cpuProfile ? await mkdtemp(join(tmpdir(), 'faas-bench-profiles-')) : undefined;
  const budget = (label: string, timeLimitMs: number) => new Budget(label, timeLimitMs, interrupt.signal);
  const stopIfInterrupted = () => {
    if (interrupt.signal.aborted) throw new BudgetExceededError('interrupted');
  };
  const results: BenchmarkResult[] = [];
  let breakdown: Measurement[] = [];
  let exitCode = 0;
  let platform: Platform | undefined;
  let redis: RedisServer | undefined;
  let bullmq: BullmqBaseline | undefined;
  let bare: BareBaseline | undefined;
  const servicesByPid = new Map<number, string>();

  try {
    // In this order the worker is replaced the fewest times.
    log(`${settings.mode} mode; benchmarks run in the order List, 1, 4, 3, 2 (memory is sampled along); starting the platform (nats-server, scheduler, gateway, observer)`);
    platform = await Platform.start({
      serviceEnv: profileDir ? { NODE_OPTIONS: `--import tsx --import ${profileHook}`, FAAS_BENCH_CPU_PROFILE_DIR: profileDir } : {},
    });
    log(`platform up; service logs in ${platform.stack.logDir}${settings.keepData ? '' : ' (deleted at the end; --keep-data keeps them)'}`);
    const memory = new MemoryBenchmark(platform);

    if (settings.only.has('list')) {
      log('List: a page with few and with many finished jobs');
      results.push(await benchListPage(platform, settings.list, budget('List', settings.list.timeLimitMs)));
    }

    stopIfInterrupted();
    if (settings.only.has('submit')) {
      log('benchmark 1: Submit throughput against raw JetStream publishes');
      results.push(
        await benchSubmitThroughput(platform, settings.submit, budget('Submit throughput', settings.submit.timeLimitMs), () =>
          memory.processes('sandboxed'),
        ),
      );
    }

    stopIfInterrupted();
    if (settings.only.has('start')) {
      log('benchmark 4: job start from a cached repository against a fresh shallow clone');
      const result = await benchRepositoryStart(platform, settings.start, budget('repository start', settings.start.timeLimitMs + 2 * settings.workerStartLimitMs));
      results.push(result);
      // A benchmark that stopped early may have left the cache-off worker, or none, in place.
      stopIfInterrupted();
      if (result.error) await platform.useWorker('sandboxed', budget('worker start', settings.workerStartLimitMs).signal);
    } else {
      log(`starting a worker of ${workerSlots} slots with the sandbox on`);
      await platform.useWorker('sandboxed', budget('worker start', settings.workerStartLimitMs).signal);
    }
    await memory.sampleIdle('sandboxed', settings.idleSampleMs);

    stopIfInterrupted();
    if (settings.only.has('dispatch')) {
      log('benchmark 3: dispatch latency against raw JetStream publish-to-consume');
      const { result, samples } = await benchDispatchLatency(platform, settings.dispatch, budget('dispatch latency', settings.dispatch.timeLimitMs));
      results.push(result);
      breakdown = await dispatchBreakdown(platform.stack.logDir, samples);
    }

    stopIfInterrupted();
    if (settings.only.has('end-to-end')) {
      bare = await BareBaseline.start({ slots: workerSlots, workRoot: join(platform.sandboxRoot, 'bare'), uidBase: bareUidBase, logDir: platform.stack.logDir });
      let bullmqProblem: string | undefined;
      try {
        redis = await openRedis(platform.stack.logDir);
        machine.redis = redis.version;
        log(`BullMQ baseline on Redis ${redis.version} at ${redis.host}:${redis.port}${redis.process ? ` (started, pid ${redis.process.pid})` : ''}`);
        bullmq = await BullmqBaseline.start(redis, {
          concurrency: workerSlots,
          workRoot: join(platform.sandboxRoot, 'bullmq'),
          uidBase: bullmqUidBase,
          logDir: platform.stack.logDir,
        });
      } catch (error) {
        bullmqProblem = (error as Error).message;
        log(`BullMQ baseline unavailable: ${bullmqProblem}`);
      }
      for (const isolation of ['sandboxed', 'none'] as const) {
        stopIfInterrupted();
        if (isolation === 'none') {
          log('replacing the worker with one that runs jobs without a sandbox');
          await platform.useWorker('none', budget('worker start', settings.workerStartLimitMs).signal);
          await memory.sampleIdle('none', settings.idleSampleMs);
        }
        log(`benchmark 2: end-to-end jobs per second, sandbox ${isolation === 'sandboxed' ? 'on' : 'off'}, against bare spawn and BullMQ`);
        const sampler = memory.sampler(isolation);
        results.push(
          await benchEndToEnd(
            platform,
            { bare, bullmq, bullmqProblem },
            isolation,
            settings.endToEnd,
            budget(`end-to-end (${isolation})`, settings.endToEnd.timeLimitMs),
            () => memory.processes(isolation),
            (phase) => (phase === 'start' ? sampler.start() : sampler.stop()),
          ),
        );
        memory.addLoad(sampler.stop(), isolation);
      }
    }
    results.push(memory.result());
  } catch (error) {
    exitCode = 1;
    if (error instanceof BudgetExceededError && interrupt.signal.aborted) log('interrupted; the remaining benchmarks are skipped');
    else console.error(`bench failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    log('stopping everything the run started');
    await bullmq?.stop().catch((error: Error) => console.error(`stopping the BullMQ baseline failed: ${error.message}`));
    await redis?.stop().catch((error: Error) => console.error(`stopping Redis failed: ${error.message}`));
    await bare?.stop().catch((error: Error) => console.error(`stopping the bare baseline failed: ${error.message}`));
    for (const service of platform?.stack.services() ?? []) if (service.pid !== undefined) servicesByPid.set(service.pid, service.name);
    const failed = exitCode !== 0 && !interrupt.signal.aborted;
    const keepData = settings.keepData || settings.cpuProfile || failed;
    await platform?.stop(keepData).catch((error: Error) => console.error(`stopping the platform failed: ${error.message}`));
    if (platform && keepData) log(`kept ${platform.dataDir} with the service logs`);
  }
  if (interrupt.signal.aborted) exitCode = 130;

  if (profileDir) {
    printProfiles(await summarizeProfiles(profileDir, servicesByPid));
    log(`CPU profiles in ${profileDir}; open them in Chrome DevTools (Performance) for call trees`);
  }

  const run: RunResult = {
    startedAt: startedAt.toISOString(),
    mode: settings.mode,
    elapsedSeconds: (performance.now() - started) / 1000,
    machine,
    settings: {
      rounds: settings.submit.rounds,
      submitsPerRound: settings.submit.submits,
      publishesPerRound: settings.submit.publishes,
      bareCallsPerRound: settings.submit.bareCalls,
      submitConcurrency: settings.submit.concurrency,
      dispatchJobsPerRound: settings.dispatch.jobs,
      dispatchMessagesPerRound: settings.dispatch.messages,
      startJobsPerRound: settings.start.jobs,
      endToEndJobsPerRound: settings.endToEnd.jobs,
      listSizes: settings.list.sizes.join(','),
      listCallsPerRound: settings.list.calls,
      workerSlots,
      only: [...settings.only].join(','),
    },
    benchmarks: results,
    dispatchBreakdown: breakdown,
    targets: evaluateTargets(results),
  };
  printReport(run);
  // An interrupted run leaves the recorded figures of complete runs alone.
  if (settings.write && results.length > 0 && !interrupt.signal.aborted) {
    const resultPath = await writeRunResult(join(root, 'bench', 'results'), run);
    const resultFile = relative(root, resultPath);
    if (settings.mode === 'full') {
      await writeBenchmarkPage(join(root, 'docs', 'benchmarks.md'), run, resultFile);
      log(`wrote ${resultFile} and docs/benchmarks.md`);
    } else {
      // The page keeps the figures of the last full run; a quick run only checks the suite.
      log(`wrote ${resultFile}; docs/benchmarks.md keeps the last full run`);
    }
  }
  return exitCode;
}

process.exitCode = await main();
