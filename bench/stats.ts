/** Order statistics of benchmark samples. */

/** Median, quartiles, 99th percentile and extremes of a sample. */
export interface Summary {
  count: number;
  median: number;
  p25: number;
  p75: number;
  p99: number;
  min: number;
  max: number;
}

/**
 * Returns the `p`th percentile (0 to 100) of `values`, interpolating
 * linearly between the two closest ranks (the method numpy and R use by
 * default), so the 50th percentile of an even-sized sample is the mean of
 * its two middle values. Throws RangeError for an empty sample, a `p`
 * outside 0 to 100 or a value that is not a finite number.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!Number.isFinite(p) || p < 0 || p > 100) throw new RangeError(`invalid percentile ${p}: expected a number from 0 to 100`);
  const sorted = sortedCopy(values);
  const position = ((sorted.length - 1) * p) / 100;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Returns the summary of `values`; throws RangeError for an empty sample. */
export function summarize(values: readonly number[]): Summary {
  const sorted = sortedCopy(values);
  return {
    count: sorted.length,
    median: percentile(sorted, 50),
    p25: percentile(sorted, 25),
    p75: percentile(sorted, 75),
    p99: percentile(sorted, 99),
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

/** Kind of spread of a figure: the range of per-round values, or the interquartile range of pooled samples. */
export type SpreadKind = 'min-max' | 'p25-p75';

/** Returns the lower and upper bound of the spread of `summary`. */
export function spreadBounds(summary: Summary, kind: SpreadKind): [number, number] {
  return kind === 'min-max' ? [summary.min, summary.max] : [summary.p25, summary.p75];
}

/** Returns events per second for `count` events in `elapsedMs`; throws RangeError unless `elapsedMs` is positive. */
export function ratePerSecond(count: number, elapsedMs: number): number {
  if (!(elapsedMs > 0)) throw new RangeError(`invalid elapsed time ${elapsedMs} ms: expected a positive duration`);
  return (count * 1000) / elapsedMs;
}

function sortedCopy(values: readonly number[]): number[] {
  if (values.length === 0) throw new RangeError('empty sample: expected at least one value');
  for (const value of values) {
    if (!Number.isFinite(value)) throw new RangeError(`invalid sample value ${value}: expected finite numbers`);
  }
  return [...values].sort((a, b) => a - b);
}
