import type { ScaleEvent } from '../../gen/faas/observer/v1/observer_service.js';
import { invalidArgument } from '../../common/errors.js';

const maxEvents = 200;
const maxAgeMs = 24 * 3_600_000;
const defaultLimit = 50;

/** Past changes of the desired worker count, bounded in number and age. */
export class ScaleEvents {
  private readonly events: ScaleEvent[] = [];

  add(event: ScaleEvent): void {
    this.events.push(event);
    this.prune(event.decidedAt!.getTime());
  }

  /** Returns up to `limit` events, newest first; 0 means the default of 50. */
  list(limit: number, nowMs = Date.now()): ScaleEvent[] {
    if (limit > maxEvents) throw invalidArgument('limit', `is ${limit}; use 1 to ${maxEvents}, or 0 for ${defaultLimit}`);
    this.prune(nowMs);
    return this.events.slice(-(limit || defaultLimit)).reverse();
  }

  private prune(nowMs: number): void {
    while (this.events.length > maxEvents) this.events.shift();
    while (this.events.length > 0 && this.events[0].decidedAt!.getTime() < nowMs - maxAgeMs) this.events.shift();
  }
}
