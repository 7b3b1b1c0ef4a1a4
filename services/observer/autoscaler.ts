import type { QueueMetrics } from '../../gen/faas/observer/v1/observer_service.js';
import { decideWorkers, type ScalePolicy } from './policy.js';

export interface AutoscalerSettings extends ScalePolicy {
  /** How long a higher need must last before scaling up, unless demand is at least twice the capacity. */
  scaleUpDelayMs: number;
  /** How long the need must stay lower before scaling down; the highest need within it counts. */
  stableWindowMs: number;
}

export interface Observation {
  metrics: QueueMetrics;
  /** Workers connected to the schedulers. */
  connectedWorkers: number;
  /** Workers started but not yet connected; they count as capacity, so a burst does not overshoot. */
  startingWorkers: number;
  nowMs: number;
}

export interface AutoscaleDecision {
  desiredWorkers: number;
  /** Workers the current demand alone needs, before the windows apply. */
  neededWorkers: number;
  reason: string;
  /** Demand is at least twice the capacity, so the scale-up skipped its delay. */
  panic: boolean;
}

/**
 * Turns queue depth into a number of workers, with the two windows that keep
 * it from flapping: a scale-up waits `scaleUpDelayMs` (or happens at once
 * when demand is at least twice the capacity), and a scale-down waits until
 * the need stayed lower for the whole `stableWindowMs`. This is the formal
 * version of "scale up after the queue stays above the limit for a while,
 * scale down after it stays low".
 */
export class Autoscaler {
  private readonly history: Array<{ atMs: number; needed: number }> = [];
  private desired: number;
  private higherSinceMs: number | undefined;
  private firstObservationMs: number | undefined;

  constructor(private readonly settings: AutoscalerSettings) {
    this.desired = settings.minWorkers;
  }

  decide(observation: Observation): AutoscaleDecision {
    const { settings } = this;
    const { nowMs } = observation;
    this.firstObservationMs ??= nowMs;
    const base = decideWorkers(observation.metrics, settings);
    const needed = base.desiredWorkers;
    this.history.push({ atMs: nowMs, needed });
    while (this.history.length > 0 && this.history[0].atMs < nowMs - settings.stableWindowMs) this.history.shift();

    const current = observation.connectedWorkers + observation.startingWorkers;
    const capacity = Math.max(current, this.desired) * settings.slotsPerWorker;
    const demand = observation.metrics.pending + observation.metrics.ackPending;
    const panic = demand > 0 && demand >= 2 * capacity;

    if (needed > this.desired) {
      this.higherSinceMs ??= nowMs;
      const waited = nowMs - this.higherSinceMs;
      if (panic || waited >= settings.scaleUpDelayMs) {
        this.desired = needed;
        this.higherSinceMs = undefined;
        const why = panic ? `demand ${demand} is at least twice the capacity of ${capacity} slots, so at once` : `after ${waited} ms`;
        return { desiredWorkers: needed, neededWorkers: needed, panic, reason: `${base.reason}; scaling up ${why}` };
      }
      return {
        desiredWorkers: this.desired,
        neededWorkers: needed,
        panic,
        reason: `${base.reason}; scaling up once that lasts ${settings.scaleUpDelayMs} ms (${waited} ms so far)`,
      };
    }
    this.higherSinceMs = undefined;

    // Scale down to the highest need seen during the stable window, so a
    // short lull does not remove workers a burst will want back.
    const windowNeed = Math.max(...this.history.map((entry) => entry.needed));
    const windowCovered = nowMs - this.firstObservationMs >= settings.stableWindowMs;
    if (windowNeed < this.desired && windowCovered) {
      this.desired = windowNeed;
      return {
        desiredWorkers: windowNeed,
        neededWorkers: needed,
        panic,
        reason: `${base.reason}; the need stayed at or below ${windowNeed} for ${settings.stableWindowMs} ms, so scaling down`,
      };
    }
    const reason =
      needed < this.desired
        ? `${base.reason}; keeping ${this.desired} until the need stays lower for ${settings.stableWindowMs} ms`
        : base.reason;
    return { desiredWorkers: this.desired, neededWorkers: needed, panic, reason };
  }
}
