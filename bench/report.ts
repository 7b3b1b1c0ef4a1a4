import type { BenchmarkResult, Measurement, Unit } from './results.js';
import { spreadBounds } from './stats.js';
import type { RunResult } from './run-result.js';

/** Formats a value in its unit with as many decimals as its size warrants. */
export function formatValue(value: number, unit: Unit): string {
  // Small ratios keep two significant digits, so 0.0072x does not print as 0.01x.
  if (unit === 'x') return Math.abs(value) < 0.1 ? `${value.toPrecision(2)}x` : `${value.toFixed(2)}x`;
  const magnitude = Math.abs(value);
  let decimals = 2;
  if (magnitude >= 100) decimals = 0;
  else if (magnitude >= 10) decimals = 1;
  return `${value.toFixed(decimals)} ${unit}`;
}

/** Returns median, spread, p99 (for pooled latencies) and sample count of a measurement as table cells. */
export function measurementCells(item: Measurement): { median: string; spread: string; p99: string; count: string } {
  if (!item.summary) return { median: 'not measured', spread: '', p99: '', count: '0' };
  const [low, high] = spreadBounds(item.summary, item.spread);
  const plain = (value: number) => formatValue(value, item.unit).replace(/ \S+$/, '');
  return {
    median: formatValue(item.summary.median, item.unit),
    spread: `${plain(low)} to ${plain(high)} (${item.spread})`,
    p99: item.spread === 'p25-p75' && item.unit === 'ms' ? formatValue(item.summary.p99, item.unit) : '',
    count: String(item.summary.count),
  };
}

/** Prints the run as plain-text tables: one per benchmark, the dispatch breakdown and the targets. */
export function printReport(run: RunResult): void {
  const { machine } = run;
  console.log('');
  console.log(`faas benchmarks, ${run.mode} mode, ${run.startedAt}, ${run.elapsedSeconds.toFixed(0)} s`);
  console.log(`machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, nats-server ${machine.natsServer}, Redis ${machine.redis ?? '-'}, load ${machine.loadAverageAtStart} at start`);
  for (const benchmark of run.benchmarks) printBenchmark(benchmark);
  if (run.dispatchBreakdown.length > 0) {
    printTable('Where time goes between Submit and RUNNING (dispatch-latency jobs)', run.dispatchBreakdown);
  }
  console.log('');
  console.log('Targets (reported, not asserted)');
  const width = Math.max(...run.targets.map((target) => target.target.length));
  for (const target of run.targets) {
    console.log(`  ${target.target.padEnd(width)}  ${target.figure.padStart(10)}  ${target.status}`);
  }
}

function printBenchmark(benchmark: BenchmarkResult): void {
  printTable(`${benchmark.title} (${(benchmark.elapsedMs / 1000).toFixed(0)} s)`, benchmark.measurements);
  for (const note of benchmark.notes) console.log(`  note: ${note}`);
  if (benchmark.error) console.log(`  STOPPED EARLY: ${benchmark.error}`);
}

function printTable(title: string, measurements: Measurement[]): void {
  console.log('');
  console.log(title);
  const rows = measurements.map((item) => ({ label: item.label, ...measurementCells(item) }));
  const width = (pick: (row: (typeof rows)[number]) => string) => Math.max(0, ...rows.map((row) => pick(row).length));
  const labelWidth = width((row) => row.label);
  const medianWidth = width((row) => row.median);
  const spreadWidth = width((row) => row.spread);
  const p99Width = width((row) => row.p99);
  for (const row of rows) {
    const p99 = row.p99 ? `  p99 ${row.p99.padStart(p99Width)}` : ''.padEnd(p99Width > 0 ? p99Width + 6 : 0);
    console.log(`  ${row.label.padEnd(labelWidth)}  ${row.median.padStart(medianWidth)}  ${row.spread.padEnd(spreadWidth)}${p99}  n=${row.count}`);
  }
}
