import { randomBytes } from 'node:crypto';
import { AckPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { isFinal } from '../common/job-states.js';
import { JobState } from '../gen/faas/v1/job.js';
import type { Budget } from './budget.js';
import type { Platform } from './platform.js';
import { measurement, type BenchmarkResult } from './results.js';

export interface DispatchLatencyOptions {
  rounds: number;
  /** Jobs per round, submitted one after another. */
  jobs: number;
  /** Raw messages per round, published one after another. */
  messages: number;
}

/** Times of one job, for the latency figures and the breakdown of where time goes. */
export interface DispatchSample {
  jobId: string;
  /** Wall-clock time (ms since the epoch) just before Submit was called. */
  submitStartWallMs: number;
  /** The record's `createdAt`, set by the scheduler once the owner's slot and the idempotency key are taken. */
  createdWallMs: number;
  /** Wall-clock time Submit returned. */
  acceptedWallMs: number;
  /** Submit accepted to the first Watch record in state RUNNING, in ms. */
  observedMs: number;
  /** Submit accepted to the job record's `startedAt`, in ms (same host clock). */
  recordedMs: number;
}

/**
 * Benchmark 3: the time from Submit accepted to the job observed RUNNING on
 * a Watch stream opened right after Submit returned. Jobs go one at a time
 * to an idle worker with free slots. The baseline is the time from a
 * JetStream publish to its delivery to a waiting pull consumer on the same
 * nats-server. Rounds alternate the two.
 */
export async function benchDispatchLatency(
  platform: Platform,
  options: DispatchLatencyOptions,
  budget: Budget,
): Promise<{ result: BenchmarkResult; samples: DispatchSample[] }> {
  const started = performance.now();
  const samples: DispatchSample[] = [];
  const rawLatencies: number[] = [];
  let error: string | undefined;
  const payload = randomBytes(platform.encodedSpecBytes());

  const suffix = randomBytes(4).toString('hex');
  const stream = `BENCH_LATENCY_${suffix}`;
  const subject = `bench.latency.${suffix}`;
  await platform.jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  await platform.jsm.consumers.add(stream, { durable_name: 'bench', ack_policy: AckPolicy.Explicit });
  const consumer = await platform.js.consumers.get(stream, 'bench');
  const messages = await consumer.consume({ max_messages: 16 });
  let deliver: (() => void) | undefined;
  const consuming = (async () => {
    for await (const message of messages) {
      deliver?.();
      message.ack();
    }
  })();

  try {
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < options.jobs; i++) {
        budget.check();
        samples.push(await timeOneJob(platform, budget.signal));
      }
      for (let i = 0; i < options.messages; i++) {
        budget.check();
        const delivered = new Promise<void>((resolve) => (deliver = resolve));
        const publishStart = performance.now();
        await platform.js.publish(subject, payload);
        await delivered;
        rawLatencies.push(performance.now() - publishStart);
      }
    }
  } catch (caught) {
    error = (caught as Error).message;
  } finally {
    messages.stop();
    await consuming.catch(() => undefined);
    await platform.jsm.streams.delete(stream).catch(() => undefined);
  }

  const result: BenchmarkResult = {
    id: 'dispatch-latency',
    title: 'Dispatch latency',
    method:
      `${options.jobs} trivial jobs per round, one at a time, on an idle worker with free slots: time from Submit returning to the first RUNNING record on a Watch stream opened at once. ` +
      `Baseline: ${options.messages} messages per round, one at a time, from the start of a JetStream publish to its delivery to a waiting pull consumer on the same server. Latencies are pooled over rounds.`,
    measurements: [
      measurement('observed', 'Submit accepted to RUNNING on Watch', 'ms', 'p25-p75', samples.map((sample) => sample.observedMs)),
      measurement('recorded', 'Submit accepted to the record\'s startedAt', 'ms', 'p25-p75', samples.map((sample) => sample.recordedMs)),
      measurement('raw', 'JetStream publish to pull-consumer delivery', 'ms', 'p25-p75', rawLatencies),
    ],
    notes: ['startedAt is written by the scheduler on the same host clock, with millisecond precision; RUNNING can precede the Submit response, so recorded values can be negative'],
    error,
    elapsedMs: performance.now() - started,
  };
  return { result, samples };
}

/** Submits one trivial job, follows it on Watch until it is final, and returns its times. */
async function timeOneJob(platform: Platform, signal: AbortSignal): Promise<DispatchSample> {
  const submitStartWallMs = Date.now();
  const { job } = await platform.client.submit(platform.trivialSpec(), { signal });
  const acceptedAt = performance.now();
  const acceptedWallMs = Date.now();
  let observedMs: number | undefined;
  let startedAt: Date | undefined;
  for await (const record of platform.client.watch(job!.id, { signal })) {
    if (observedMs === undefined && record.state === JobState.JOB_STATE_RUNNING) {
      observedMs = performance.now() - acceptedAt;
      startedAt = record.startedAt;
    }
    if (isFinal(record.state)) {
      if (record.state !== JobState.JOB_STATE_SUCCEEDED) {
        throw new Error(`job ${record.id} ended ${JobState[record.state]}: ${record.error?.message ?? 'no message'}`);
      }
      break;
    }
  }
  if (observedMs === undefined || !startedAt) throw new Error(`job ${job!.id} finished without a RUNNING record on Watch`);
  platform.tracker.forget([job!.id]);
  return {
    jobId: job!.id,
    submitStartWallMs,
    createdWallMs: job!.createdAt?.getTime() ?? Number.NaN,
    acceptedWallMs,
    observedMs,
    recordedMs: startedAt.getTime() - acceptedWallMs,
  };
}
