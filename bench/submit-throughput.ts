import { randomBytes } from 'node:crypto';
import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { BareGrpcHops } from './bare-grpc-hops.js';
import type { Budget } from './budget.js';
import { forEachConcurrent } from '../common/concurrency.js';
import { CpuPerUnit } from './cpu-time.js';
import type { FaasClient } from '../client/client.js';
import type { Platform } from './platform.js';
import { measurement, pairedRatios, type BenchmarkResult } from './results.js';
import type { SampledProcess } from './rss.js';
import { ratePerSecond } from './stats.js';

export interface SubmitThroughputOptions {
  rounds: number;
  /** Submit calls per round. */
  submits: number;
  /** Raw JetStream publishes per round. */
  publishes: number;
  /** Calls over two bare gRPC hops per round. */
  bareCalls: number;
  /** Callers with one call in flight each. */
  concurrency: number;
}

/**
 * Benchmark 1: accepted Submit calls per second through the gateway, with
 * no worker connected so that only Submit runs, against acknowledged
 * JetStream publishes of a payload of the encoded job spec's size to a
 * work-queue stream on the same nats-server. Submit runs twice, through a
 * FaasClient that batches and through one that does not. The floor sends
 * the same bytes over two bare gRPC hops (see BareGrpcHops). Each round
 * runs the four one after the other, after an untimed warm-up of each.
 * Each round's jobs are cancelled afterwards, outside the timing, so every
 * round starts with an empty queue.
 */
export async function benchSubmitThroughput(
  platform: Platform,
  options: SubmitThroughputOptions,
  budget: Budget,
  processes: () => SampledProcess[],
): Promise<BenchmarkResult> {
  const started = performance.now();
  const spec = platform.trivialSpec();
  const payloadBytes = platform.encodedSpecBytes();
  const platformRates: number[] = [];
  const singleRates: number[] = [];
  const rawRates: number[] = [];
  const bareRates: number[] = [];
  const notes: string[] = [
    `payload ${payloadBytes} bytes (the encoded job spec); ${options.concurrency} concurrent callers`,
    'CPU per Submit call covers the rounds of the batching client only; "client" is the benchmark process, where FaasClient runs',
  ];
  let failures = 0;
  let firstFailure = '';
  let error: string | undefined;
  const cpuPerCall = new CpuPerUnit(options.submits, 'Submit call');

  const suffix = randomBytes(4).toString('hex');
  const stream = `BENCH_RAW_${suffix}`;
  const subject = `bench.raw.${suffix}`;
  await platform.jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  const payload = randomBytes(payloadBytes);
  let hops: BareGrpcHops | undefined;

  // The record watch that the other benchmarks use to see jobs end would read every record
  // that Submit writes, on the same two cores, and the raw baseline has no such reader.
  platform.tracker.pause();
  try {
    hops = await BareGrpcHops.start(platform.dataDir);
    await warmUp(platform, hops, { subject, payload, stream, concurrency: options.concurrency, calls: Math.min(options.submits, warmUpCalls) }, budget);
    for (let round = 0; round < options.rounds; round++) {
      budget.check();
      // The benchmark's own process is the client: FaasClient and its gRPC channel.
      const measured = [...processes(), { name: 'client', pid: process.pid }];
      await cpuPerCall.begin(measured);
      const batched = await submitRound(platform, platform.throughputClient, options, budget);
      await cpuPerCall.end(measured);
      await cancelJobs(platform, platform.throughputClient, batched.accepted, options.concurrency, budget);
      if (batched.rate !== undefined) platformRates.push(batched.rate);
      const single = await submitRound(platform, platform.singleSubmitClient, options, budget);
      await cancelJobs(platform, platform.singleSubmitClient, single.accepted, options.concurrency, budget);
      if (single.rate !== undefined) singleRates.push(single.rate);
      for (const failure of [...batched.failures, ...single.failures]) {
        failures++;
        firstFailure ||= failure;
      }

      budget.check();
      const rawStart = performance.now();
      await forEachConcurrent(options.publishes, options.concurrency, async () => {
        await platform.js.publish(subject, payload);
      }, budget.signal);
      budget.check();
      rawRates.push(ratePerSecond(options.publishes, performance.now() - rawStart));
      await platform.jsm.streams.purge(stream);

      budget.check();
      const bareStart = performance.now();
      await forEachConcurrent(options.bareCalls, options.concurrency, async () => {
        await hops!.call(payload);
      }, budget.signal);
      budget.check();
      bareRates.push(ratePerSecond(options.bareCalls, performance.now() - bareStart));
    }
  } catch (caught) {
    error = (caught as Error).message;
  } finally {
    await platform.jsm.streams.delete(stream).catch(() => undefined);
    await hops?.stop();
    await platform.tracker.resume();
  }
  if (failures > 0) notes.push(`${failures} Submit call(s) failed and are left out of the rate; the first: ${firstFailure}`);
  const leftOver = await countActiveEntries(platform).catch(() => undefined);
  if (leftOver !== undefined && leftOver > 0) {
    notes.push(`after every job was cancelled, the owner's list of active jobs still holds ${leftOver} entries; each Submit reads and rewrites that list, so later rounds are slower`);
  }

  return {
    id: 'submit-throughput',
    title: 'Submit throughput',
    method:
      `Accepted Submit calls per second through the gateway, with ${options.concurrency} callers, no worker connected and ${options.submits} calls per round, none retried. ` +
      'The client is FaasClient with the token of one development user, so every job has the same owner. ' +
      'It sends the calls made in one turn of the event loop as SubmitBatch calls of up to 100 jobs (batchSubmits, its default), so with 32 callers a batch carries up to 32 jobs. ' +
      'Right after, a second client with batchSubmits off sends one Submit per job. ' +
      `The baseline is acknowledged JetStream publishes of the same size at the same concurrency, to a file-backed work-queue stream on the same nats-server, ${options.publishes} per round. ` +
      `The floor sends the same bytes over two bare gRPC hops at the same concurrency, ${options.bareCalls} calls per round: from the benchmark to a relay process, which calls a server process that returns them. ` +
      'Both are plain grpc-js on 127.0.0.1 with no TLS, token, telemetry or storage, so the floor is what two hops cost before any work. ' +
      `Each round runs the four one after the other, after an untimed warm-up of ${warmUpCalls} calls of each kind. ` +
      'The watch of job records that the other benchmarks use to see jobs end is stopped meanwhile, since the raw baseline has no such reader.',
    measurements: [
      measurement('platform', 'Submit through the gateway', 'calls/s', 'min-max', platformRates),
      measurement('single', 'Submit through the gateway, one call per job (batchSubmits off)', 'calls/s', 'min-max', singleRates),
      measurement('raw', 'JetStream publish, acknowledged', 'publishes/s', 'min-max', rawRates),
      measurement('bare', 'Two bare gRPC hops (the floor)', 'calls/s', 'min-max', bareRates),
      measurement('ratio', 'Submit / raw publish (paired rounds)', 'x', 'min-max', pairedRatios(platformRates, rawRates)),
      measurement('single-ratio', 'Submit, one call per job / raw publish (paired rounds)', 'x', 'min-max', pairedRatios(singleRates, rawRates)),
      measurement('bare-ratio', 'Two bare gRPC hops / raw publish (paired rounds)', 'x', 'min-max', pairedRatios(bareRates, rawRates)),
      measurement('platform-bare-ratio', 'Submit / two bare gRPC hops (paired rounds)', 'x', 'min-max', pairedRatios(platformRates, bareRates)),
      ...cpuPerCall.measurements(),
    ],
    notes,
    error,
    elapsedMs: performance.now() - started,
  };
}

/**
 * Submits `options.submits` jobs through `client` with `options.concurrency`
 * callers. Returns the rate of accepted calls, their job ids and the
 * messages of the failed calls.
 */
async function submitRound(
  platform: Platform,
  client: FaasClient,
  options: SubmitThroughputOptions,
  budget: Budget,
): Promise<{ rate: number | undefined; accepted: string[]; failures: string[] }> {
  const spec = platform.trivialSpec();
  const accepted: string[] = [];
  const failures: string[] = [];
  const roundStart = performance.now();
  let lastAccepted = roundStart;
  await forEachConcurrent(
    options.submits,
    options.concurrency,
    async () => {
      try {
        const { job } = await client.submit(spec, { signal: budget.signal });
        accepted.push(job!.id);
        lastAccepted = performance.now();
      } catch (caught) {
        if (budget.signal.aborted) throw caught;
        failures.push((caught as Error).message);
      }
    },
    budget.signal,
  );
  budget.check();
  const rate = accepted.length > 0 ? ratePerSecond(accepted.length, lastAccepted - roundStart) : undefined;
  return { rate, accepted, failures };
}

/** Cancels a round's jobs, so that every round starts with an empty queue. */
async function cancelJobs(platform: Platform, client: FaasClient, jobIds: string[], concurrency: number, budget: Budget): Promise<void> {
  await platform.cancelAll(jobIds, concurrency, budget.cleanupSignal(), client);
  platform.tracker.forget(jobIds);
}

/** Calls of each kind before the first round. */
const warmUpCalls = 200;

/**
 * Makes untimed Submit calls, publishes and bare calls, so that the first
 * round does not pay for compiling the code paths of the three, and cancels
 * the jobs.
 */
async function warmUp(
  platform: Platform,
  hops: BareGrpcHops,
  options: { subject: string; payload: Buffer; stream: string; concurrency: number; calls: number },
  budget: Budget,
): Promise<void> {
  const spec = platform.trivialSpec();
  for (const client of [platform.throughputClient, platform.singleSubmitClient]) {
    const accepted: string[] = [];
    await forEachConcurrent(options.calls, options.concurrency, async () => {
      const { job } = await client.submit(spec, { signal: budget.signal });
      accepted.push(job!.id);
    }, budget.signal);
    await cancelJobs(platform, client, accepted, options.concurrency, budget);
  }
  await forEachConcurrent(options.calls, options.concurrency, async () => {
    await platform.js.publish(options.subject, options.payload);
  }, budget.signal);
  await platform.jsm.streams.purge(options.stream);
  await forEachConcurrent(options.calls, options.concurrency, async () => {
    await hops.call(options.payload);
  }, budget.signal);
}

/**
 * Counts the entries of every owner's list of active jobs, which the
 * scheduler keeps as JSON arrays under the keys `a.<owner>` of the index
 * bucket. Cancelling a job should remove its entry.
 */
async function countActiveEntries(platform: Platform): Promise<number> {
  const index = await new Kvm(platform.js).open(platform.names.indexBucket);
  let entries = 0;
  for await (const key of await index.keys('a.*')) {
    const entry = await index.get(key);
    if (entry?.operation === 'PUT') entries += entry.json<unknown[]>().length;
  }
  return entries;
}
