import { summarize, type SpreadKind, type Summary } from './stats.js';

export type Unit = 'calls/s' | 'publishes/s' | 'jobs/s' | 'ms' | 'MiB' | 'x';

/** One figure of a benchmark, with the values it summarises. */
export interface Measurement {
  /** Stable name within its benchmark, used by the targets and in the JSON. */
  key: string;
  label: string;
  unit: Unit;
  /** `min-max` for one value per round, `p25-p75` for samples pooled over rounds. */
  spread: SpreadKind;
  /** Per-round values or pooled samples. Files in bench/results/ leave out lists longer than 30. */
  values: number[];
  /** Absent when no value was measured. */
  summary?: Summary;
}

export interface BenchmarkResult {
  id: string;
  title: string;
  /** Measurement method, in one or two sentences. */
  method: string;
  measurements: Measurement[];
  notes: string[];
  /** Reason the benchmark stopped early. Its figures then cover the rounds before. */
  error?: string;
  elapsedMs: number;
}

/** Returns a measurement with its summary, or none when `values` is empty. */
export function measurement(key: string, label: string, unit: Unit, spread: SpreadKind, values: number[]): Measurement {
  return { key, label, unit, spread, values, summary: values.length > 0 ? summarize(values) : undefined };
}

/** Returns the paired ratios `numerators[i] / denominators[i]` of the rounds that have both. */
export function pairedRatios(numerators: number[], denominators: number[]): number[] {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(numerators.length, denominators.length); i++) {
    if (denominators[i] > 0) ratios.push(numerators[i] / denominators[i]);
  }
  return ratios;
}

/** Returns the median of the measurement named `key` in benchmark `id`, if measured. */
export function medianOf(results: BenchmarkResult[], id: string, key: string): number | undefined {
  return results.find((result) => result.id === id)?.measurements.find((item) => item.key === key)?.summary?.median;
}
