import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MachineDescription } from './machine.js';
import type { BenchmarkResult, Measurement } from './results.js';
import type { TargetResult } from './targets.js';

/** Everything one `npm run bench` run measured, as written to bench/results/. */
export interface RunResult {
  /** ISO time the run started. */
  startedAt: string;
  mode: 'quick' | 'full';
  elapsedSeconds: number;
  machine: MachineDescription;
  /** Counts and limits the run used. */
  settings: Record<string, number | string | boolean>;
  benchmarks: BenchmarkResult[];
  /** Steps between Submit and RUNNING of the dispatch-latency jobs. */
  dispatchBreakdown: Measurement[];
  targets: TargetResult[];
}

/** Measurements with more values than this keep only their summary in the file (pooled latencies, memory samples). */
const maxStoredValues = 30;

/**
 * Writes `result` as `<folder>/<start time>-<mode>.json` and returns the
 * path. Numbers are rounded to 0.01 and long sample lists are left out, so
 * files stay small and diff well.
 */
export async function writeRunResult(folder: string, result: RunResult): Promise<string> {
  await mkdir(folder, { recursive: true });
  const stamp = result.startedAt.slice(0, 19).replace(/:/g, '-');
  const path = join(folder, `${stamp}Z-${result.mode}.json`);
  const text = JSON.stringify(
    result,
    (key, value: unknown) => {
      if (key === 'values' && Array.isArray(value) && value.length > maxStoredValues) return undefined;
      return typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 100) / 100 : value;
    },
    2,
  );
  // Objects and arrays without nested ones (summaries, per-round values) go on one line each.
  // JSON strings never contain a raw newline, so only the layout changes.
  const compact = text.replace(/[{[][^{}[\]]*[}\]]/g, (flat) => flat.replace(/\n\s*/g, ' ').replace(/([{[]) /, '$1').replace(/ ([}\]])$/, '$1'));
  await writeFile(path, `${compact}\n`);
  return path;
}
