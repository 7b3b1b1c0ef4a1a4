import { metrics, type Counter, type Histogram } from '@opentelemetry/api';
import { JobState, type Job } from '../../gen/faas/v1/job.js';
import { failureReasonName, isFinal, stateName } from '../../common/job-states.js';
import type { JetStreamHandles } from './jetstream.js';
import type { WorkerPool } from './pool.js';

/** Bucket bounds in seconds for job durations, from a few milliseconds to an hour. */
const durationBucketsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/**
 * The scheduler's metrics. Instruments come from the global meter provider,
 * so they record nothing unless the process started telemetry.
 */
export class SchedulerMetrics {
  private readonly submitted: Counter;
  private readonly finished: Counter;
  private readonly startDelay: Histogram;
  private readonly runDuration: Histogram;
  private readonly attempts: Counter;
  private readonly redeliveries: Counter;

  constructor() {
    const meter = metrics.getMeter('faas');
    this.submitted = meter.createCounter('faas.jobs.submitted', { unit: '{job}', description: 'Jobs accepted by Submit' });
    this.finished = meter.createCounter('faas.jobs.finished', {
      unit: '{job}',
      description: 'Jobs that reached a final state, by state and failure reason (none for a job that succeeded)',
    });
    this.startDelay = meter.createHistogram('faas.job.start_delay', {
      unit: 's',
      description: 'Time from Submit to the job running on a worker',
      advice: { explicitBucketBoundaries: durationBucketsSeconds },
    });
    this.runDuration = meter.createHistogram('faas.job.run_duration', {
      unit: 's',
      description: 'Time from the job starting on a worker to its final state',
      advice: { explicitBucketBoundaries: durationBucketsSeconds },
    });
    this.attempts = meter.createCounter('faas.job.attempts', { unit: '{attempt}', description: 'Attempts handed to workers' });
    this.redeliveries = meter.createCounter('faas.queue.redeliveries', {
      unit: '{message}',
      description: 'Queue messages delivered more than once',
    });
  }

  jobSubmitted(): void {
    this.submitted.add(1);
  }

  /** Records what a stored transition of a job means: a start or an end. */
  jobChanged(before: Job, after: Job): void {
    if (after.state === JobState.JOB_STATE_RUNNING && after.attempt !== before.attempt && after.startedAt && after.createdAt) {
      // Only the first start: a retry's start delay includes the backoff.
      if (before.attempt === 0) this.startDelay.record(seconds(after.createdAt, after.startedAt));
    }
    if (isFinal(after.state) && !isFinal(before.state)) {
      this.finished.add(1, {
        'faas.job.state': stateName(after.state),
        'faas.job.failure_reason': after.error ? failureReasonName(after.error.reason) : 'none',
      });
      if (after.startedAt && after.finishedAt) this.runDuration.record(seconds(after.startedAt, after.finishedAt));
    }
  }

  attemptDispatched(deliveryCount: number): void {
    this.attempts.add(1);
    if (deliveryCount > 1) this.redeliveries.add(1);
  }

  /** Reports the queue depth, the age of the oldest waiting job and the worker slots at each scrape. */
  observe(nats: JetStreamHandles, pool: WorkerPool): void {
    const meter = metrics.getMeter('faas');
    const depth = meter.createObservableGauge('faas.queue.depth', {
      unit: '{job}',
      description: 'Jobs in the queue: waiting for a worker (pending) or handed out and not yet finished (in_flight)',
    });
    const oldest = meter.createObservableGauge('faas.queue.oldest_pending_age', {
      unit: 's',
      description: 'Time the oldest job not yet handed to a worker has waited in the queue; 0 when none waits',
    });
    // One read of the consumer serves both.
    meter.addBatchObservableCallback(async (result) => {
      const info = await nats.jsm.consumers.info(nats.names.jobStream, nats.names.dispatchConsumer).catch(() => undefined);
      if (!info) return;
      result.observe(depth, info.num_pending, { 'faas.queue.state': 'pending' });
      result.observe(depth, info.num_ack_pending, { 'faas.queue.state': 'in_flight' });
      const queuedAt = info.num_pending > 0 ? await firstUndelivered(nats, info.delivered.stream_seq) : undefined;
      result.observe(oldest, queuedAt === undefined ? 0 : Math.max(0, (Date.now() - queuedAt.getTime()) / 1000));
    }, [depth, oldest]);
    meter
      .createObservableGauge('faas.worker.slots', { unit: '{slot}', description: 'Job slots of the connected workers, busy or free' })
      .addCallback((result) => {
        const { slots, busySlots } = pool.slotTotals();
        result.observe(busySlots, { 'faas.slot.state': 'busy' });
        result.observe(slots - busySlots, { 'faas.slot.state': 'free' });
      });
    meter
      .createObservableGauge('faas.workers.connected', { unit: '{worker}', description: 'Workers connected to this scheduler' })
      .addCallback((result) => result.observe(pool.all().length));
  }
}

/** Sequences tried past the consumer's delivered sequence, in case an operator deleted messages there. */
const gapTries = 8;

/**
 * Returns when the oldest message that the dispatch consumer has not
 * delivered yet was queued. The queue keeps a message until its job is
 * settled, so the messages after the consumer's delivered sequence are the
 * waiting ones, oldest first. Returns undefined when none of the next few
 * is found.
 *
 * NOTE: a job whose message was handed back for redelivery (nak) sits below
 * the delivered sequence, so its wait is not counted here.
 */
export async function firstUndelivered(nats: JetStreamHandles, deliveredSeq: number): Promise<Date | undefined> {
  for (let seq = deliveredSeq + 1; seq <= deliveredSeq + gapTries; seq++) {
    const message = await nats.jsm.streams.getMessage(nats.names.jobStream, { seq }).catch(() => null);
    if (message) return message.time;
  }
  return undefined;
}

function seconds(from: Date, to: Date): number {
  return Math.max(0, (to.getTime() - from.getTime()) / 1000);
}
