import assert from 'node:assert/strict';
import { Autoscaler, type Observation } from './autoscaler.js';

const settings = { slotsPerWorker: 2, minWorkers: 1, maxWorkers: 10, scaleUpDelayMs: 10_000, stableWindowMs: 60_000 };

function observe(demand: number, nowMs: number, connectedWorkers = 1, startingWorkers = 0): Observation {
  return { metrics: { pending: demand, ackPending: 0, redelivered: 0, waiting: 0 }, connectedWorkers, startingWorkers, nowMs };
}

describe('Autoscaler', () => {
  it('holds the minimum when idle', () => {
    const scaler = new Autoscaler(settings);
    assert.equal(scaler.decide(observe(0, 0)).desiredWorkers, 1);
    assert.equal(scaler.decide(observe(0, 120_000)).desiredWorkers, 1);
  });

  it('scales up after the delay', () => {
    const scaler = new Autoscaler(settings);
    assert.equal(scaler.decide(observe(3, 0)).desiredWorkers, 1);
    const waiting = scaler.decide(observe(3, 5_000));
    assert.equal(waiting.desiredWorkers, 1);
    assert.match(waiting.reason, /scaling up once that lasts 10000 ms/);
    assert.equal(scaler.decide(observe(3, 10_000)).desiredWorkers, 2);
  });

  it('scales up at once when demand is twice the capacity', () => {
    const scaler = new Autoscaler(settings);
    const decision = scaler.decide(observe(8, 0));
    assert.equal(decision.panic, true);
    assert.equal(decision.desiredWorkers, 4);
    assert.match(decision.reason, /at least twice the capacity/);
  });

  it('counts starting workers as capacity', () => {
    const scaler = new Autoscaler(settings);
    // 4 workers are starting: 8 slots for a demand of 8 is no panic.
    const decision = scaler.decide(observe(8, 0, 0, 4));
    assert.equal(decision.panic, false);
  });

  it('caps at the maximum', () => {
    const scaler = new Autoscaler(settings);
    assert.equal(scaler.decide(observe(100, 0)).desiredWorkers, 10);
  });

  it('scales down only after the stable window', () => {
    const scaler = new Autoscaler(settings);
    assert.equal(scaler.decide(observe(8, 0)).desiredWorkers, 4);
    assert.equal(scaler.decide(observe(0, 30_000, 4)).desiredWorkers, 4);
    assert.equal(scaler.decide(observe(2, 45_000, 4)).desiredWorkers, 4);
    // The window still contains the need of 4 from t=0 until it passes.
    assert.equal(scaler.decide(observe(0, 59_000, 4)).desiredWorkers, 4);
    const down = scaler.decide(observe(0, 61_000, 4));
    assert.equal(down.desiredWorkers, 1);
    assert.match(down.reason, /scaling down/);
  });

  it('keeps workers a short lull would remove', () => {
    const scaler = new Autoscaler(settings);
    scaler.decide(observe(8, 0));
    scaler.decide(observe(0, 61_000, 4));
    assert.equal(scaler.decide(observe(0, 62_000, 1)).desiredWorkers, 1);
    const burst = scaler.decide(observe(4, 70_000, 1));
    assert.equal(burst.desiredWorkers, 2);
  });
});
