import assert from 'node:assert/strict';
import { median, percentile, ratePerSecond, spreadBounds, summarize } from './stats.js';

describe('bench statistics', () => {
  it('median of odd and even samples', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([7]), 7);
  });

  it('percentile interpolates between ranks', () => {
    const values = [10, 20, 30, 40, 50];
    assert.equal(percentile(values, 0), 10);
    assert.equal(percentile(values, 25), 20);
    assert.equal(percentile(values, 75), 40);
    assert.equal(percentile(values, 100), 50);
    assert.equal(percentile(values, 90), 46);
    assert.equal(percentile([1, 2], 99), 1.99);
  });

  it('percentile leaves the input order alone', () => {
    const values = [3, 1, 2];
    percentile(values, 50);
    assert.deepEqual(values, [3, 1, 2]);
  });

  it('summary gives quartiles and extremes', () => {
    const values = Array.from({ length: 101 }, (_, i) => 100 - i);
    const summary = summarize(values);
    assert.equal(summary.count, 101);
    assert.equal(summary.median, 50);
    assert.equal(summary.p25, 25);
    assert.equal(summary.p75, 75);
    assert.equal(summary.p99, 99);
    assert.equal(summary.min, 0);
    assert.equal(summary.max, 100);
  });

  it('spread bounds by kind', () => {
    const summary = summarize([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(spreadBounds(summary, 'min-max'), [1, 9]);
    assert.deepEqual(spreadBounds(summary, 'p25-p75'), [3, 7]);
  });

  it('rate per second', () => {
    assert.equal(ratePerSecond(500, 250), 2000);
    assert.throws(() => ratePerSecond(1, 0), RangeError);
  });

  it('rejects empty and invalid samples', () => {
    assert.throws(() => median([]), /empty sample/);
    assert.throws(() => summarize([1, Number.NaN]), /invalid sample value NaN/);
    assert.throws(() => percentile([1, 2], 101), /invalid percentile 101/);
    assert.throws(() => percentile([1, 2], -1), /invalid percentile -1/);
  });
});
