import { metrics, type Histogram } from '@opentelemetry/api';

/** Bucket bounds in seconds, from a few milliseconds to half an hour. */
const stepBucketsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];

/**
 * The worker's metrics: how long the steps of its jobs take and how many of
 * its slots are busy. They record nothing unless the process started
 * telemetry.
 */
export class WorkerMetrics {
  private readonly stepDuration: Histogram;

  constructor(slots: { total: number; busy: () => number }) {
    const meter = metrics.getMeter('faas');
    this.stepDuration = meter.createHistogram('faas.job.step.duration', {
      unit: 's',
      description: 'Time a step of a job took on this worker: clone, build or run',
      advice: { explicitBucketBoundaries: stepBucketsSeconds },
    });
    meter
      .createObservableGauge('faas.worker.slots', { unit: '{slot}', description: "Job slots of this worker, busy or free" })
      .addCallback((result) => {
        const busy = slots.busy();
        result.observe(busy, { 'faas.slot.state': 'busy' });
        result.observe(slots.total - busy, { 'faas.slot.state': 'free' });
      });
  }

  /** Records the clone, build and run times of a finished attempt; a step that did not happen is skipped. */
  attemptFinished(result: { cloneMs: number; buildMs: number; runMs: number }, state: string): void {
    const steps: [string, number][] = [['clone', result.cloneMs], ['build', result.buildMs], ['run', result.runMs]];
    for (const [step, ms] of steps) {
      if (ms > 0) this.stepDuration.record(ms / 1000, { 'faas.job.step': step, 'faas.job.state': state });
    }
  }
}
