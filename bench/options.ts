import { parseArgs } from 'node:util';
import type { DispatchLatencyOptions } from './dispatch-latency.js';
import type { EndToEndOptions } from './end-to-end.js';
import type { ListPageOptions } from './list-page.js';
import type { RepositoryStartOptions } from './repository-start.js';
import type { SubmitThroughputOptions } from './submit-throughput.js';

export const benchmarkNames = ['list', 'submit', 'dispatch', 'start', 'end-to-end'] as const;
export type BenchmarkName = (typeof benchmarkNames)[number];

/** Counts and time limits of one run. */
export interface BenchSettings {
  mode: 'quick' | 'full';
  only: Set<BenchmarkName>;
  cpuProfile: boolean;
  keepData: boolean;
  write: boolean;
  submit: SubmitThroughputOptions & { timeLimitMs: number };
  dispatch: DispatchLatencyOptions & { timeLimitMs: number };
  start: RepositoryStartOptions & { timeLimitMs: number };
  /** Time limit applies to each isolation separately. */
  endToEnd: EndToEndOptions & { timeLimitMs: number };
  list: ListPageOptions & { timeLimitMs: number };
  /** How long the idle platform's memory is sampled, in ms. */
  idleSampleMs: number;
  /** Limit for starting a worker and running its warm-up job, in ms. */
  workerStartLimitMs: number;
}

const usage = `usage: npm run bench -- [--quick] [--rounds N] [--only ${benchmarkNames.join(',')}] [--cpu-prof] [--keep-data] [--no-write]`;

/** Reads the command line into settings: `--quick` picks the small counts, and `--rounds` overrides every benchmark's round count. */
export function readSettings(argv: string[] = process.argv.slice(2)): BenchSettings {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'keep-data': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }

  const quick = values.quick;
  let rounds = quick ? 3 : 7;
  if (values.rounds !== undefined) {
    rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) throw new Error(`invalid --rounds value "${values.rounds}": use a whole number from 1 to 100\n${usage}`);
  }
  const only = new Set<BenchmarkName>(benchmarkNames);
  if (values.only !== undefined) {
    only.clear();
    for (const name of values.only.split(',').map((part) => part.trim())) {
      if (!(benchmarkNames as readonly string[]).includes(name)) throw new Error(`invalid --only value "${name}": use ${benchmarkNames.join(', ')}\n${usage}`);
      only.add(name as BenchmarkName);
    }
  }

  return {
    mode: quick ? 'quick' : 'full',
    only,
    cpuProfile: values['cpu-prof'],
    keepData: values['keep-data'],
    write: !values['no-write'],
    submit: { rounds, submits: quick ? 200 : 500, publishes: quick ? 2_000 : 10_000, bareCalls: quick ? 500 : 2_000, concurrency: 32, timeLimitMs: quick ? 30_000 : 240_000 },
    dispatch: { rounds, jobs: quick ? 10 : 30, messages: quick ? 50 : 200, timeLimitMs: quick ? 30_000 : 180_000 },
    start: { rounds, jobs: quick ? 2 : 5, timeLimitMs: quick ? 25_000 : 150_000 },
    endToEnd: { rounds, jobs: quick ? 24 : 100, warmUpJobs: quick ? 48 : 300, producers: 32, timeLimitMs: quick ? 40_000 : 420_000 },
    list: { rounds, sizes: quick ? [1_000, 5_000] : [1_000, 20_000], calls: quick ? 5 : 10, timeLimitMs: quick ? 25_000 : 120_000 },
    idleSampleMs: quick ? 2_000 : 5_000,
    workerStartLimitMs: 90_000,
  };
}
