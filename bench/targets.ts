import { medianOf, type BenchmarkResult } from './results.js';

/** A performance target and how one run compares with it. Targets are reported, never asserted. */
export interface TargetResult {
  target: string;
  /** The run's figure as text, such as "0.42x" or "3.1 ms". */
  figure: string;
  status: 'pass' | 'miss' | 'not measured';
}

/** 100 MB (decimal) in MiB, the unit /proc reports resident memory in (KiB). */
const workerIdleLimitMiB = 100e6 / 1024 ** 2;

interface TargetRule {
  target: string;
  /** Returns the figure, or undefined when the run did not measure it. */
  value: (results: BenchmarkResult[]) => number | undefined;
  format: (value: number) => string;
  passes: (value: number) => boolean;
}

const ratio = (value: number) => (value < 0.1 ? `${value.toPrecision(2)}x` : `${value.toFixed(2)}x`);

const rules: TargetRule[] = [
  {
    target: 'Submit throughput at least half of raw acknowledged publishes',
    value: (results) => medianOf(results, 'submit-throughput', 'ratio'),
    format: ratio,
    passes: (value) => value >= 0.5,
  },
  ...(['sandboxed', 'none'] as const).flatMap((isolation): TargetRule[] => {
    const id = `end-to-end-${isolation}`;
    const label = isolation === 'sandboxed' ? 'sandbox on' : 'sandbox off';
    return [
      {
        target: `End-to-end jobs/s at least half of bare spawn (${label})`,
        value: (results) => medianOf(results, id, 'ratio-bare'),
        format: ratio,
        passes: (value) => value >= 0.5,
      },
      {
        target: `End-to-end jobs/s at least equal to BullMQ (${label})`,
        value: (results) => medianOf(results, id, 'ratio-bullmq'),
        format: ratio,
        passes: (value) => value >= 1,
      },
    ];
  }),
  {
    target: 'Dispatch p50 within 5 ms of raw JetStream',
    value: (results) => {
      const observed = medianOf(results, 'dispatch-latency', 'observed');
      const raw = medianOf(results, 'dispatch-latency', 'raw');
      return observed === undefined || raw === undefined ? undefined : observed - raw;
    },
    format: (value) => `+${value.toFixed(1)} ms`,
    passes: (value) => value <= 5,
  },
  {
    target: 'Start from a cached repository (ref HEAD) at least 5x faster than a fresh clone',
    value: (results) => medianOf(results, 'repository-start', 'ratio'),
    format: ratio,
    passes: (value) => value >= 5,
  },
  {
    target: 'Worker idle under 100 MB resident',
    value: (results) => medianOf(results, 'memory', 'worker-sandboxed-idle'),
    format: (value) => `${(value * 1.048576).toFixed(0)} MB (${value.toFixed(1)} MiB)`,
    passes: (value) => value < workerIdleLimitMiB,
  },
];

export function evaluateTargets(results: BenchmarkResult[]): TargetResult[] {
  return rules.map((rule) => {
    const value = rule.value(results);
    if (value === undefined) return { target: rule.target, figure: '-', status: 'not measured' };
    return { target: rule.target, figure: rule.format(value), status: rule.passes(value) ? 'pass' : 'miss' };
  });
}
