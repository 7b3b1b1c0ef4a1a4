import assert from 'node:assert/strict';
import { decideWorkers } from './policy.js';

const policy = { slotsPerWorker: 2, minWorkers: 1, maxWorkers: 4 };
const metrics = (pending: number, ackPending: number) => ({ pending, ackPending, redelivered: 0, waiting: 0 });

describe('decideWorkers', () => {
  it('divides demand by slots, rounding up', () => {
    assert.equal(decideWorkers(metrics(3, 2), policy).desiredWorkers, 3);
  });

  it('holds the minimum when idle', () => {
    const decision = decideWorkers(metrics(0, 0), policy);
    assert.equal(decision.desiredWorkers, 1);
    assert.match(decision.reason, /raised to the minimum of 1/);
  });

  it('caps at the maximum', () => {
    const decision = decideWorkers(metrics(100, 0), policy);
    assert.equal(decision.desiredWorkers, 4);
    assert.match(decision.reason, /100 jobs waiting or running need 50 workers.*capped at the maximum of 4/);
  });
});
