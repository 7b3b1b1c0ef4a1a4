import type { QueueMetrics } from '../../gen/faas/observer/v1/observer_service.js';

export interface ScalePolicy {
  slotsPerWorker: number;
  minWorkers: number;
  maxWorkers: number;
}

export interface ScaleDecision {
  desiredWorkers: number;
  reason: string;
}

/**
 * Returns the workers needed for the jobs waiting and running: demand
 * divided by slots per worker, rounded up, within the minimum and maximum.
 */
export function decideWorkers(metrics: QueueMetrics, policy: ScalePolicy): ScaleDecision {
  const demand = metrics.pending + metrics.ackPending;
  const needed = Math.ceil(demand / policy.slotsPerWorker);
  const desiredWorkers = Math.min(policy.maxWorkers, Math.max(policy.minWorkers, needed));
  let reason = `${demand} jobs waiting or running need ${needed} workers of ${policy.slotsPerWorker} slots`;
  if (needed > policy.maxWorkers) reason += `; capped at the maximum of ${policy.maxWorkers}`;
  else if (needed < policy.minWorkers) reason += `; raised to the minimum of ${policy.minWorkers}`;
  return { desiredWorkers, reason };
}
