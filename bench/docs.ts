import { writeFile } from 'node:fs/promises';
import { medianOf, type Measurement } from './results.js';
import { measurementCells } from './report.js';
import type { RunResult } from './run-result.js';

/** Rewrites the benchmark page with the figures, machine and method of `run`. */
export async function writeBenchmarkPage(path: string, run: RunResult, resultFile: string): Promise<void> {
  await writeFile(path, renderBenchmarkPage(run, resultFile));
}

export function renderBenchmarkPage(run: RunResult, resultFile: string): string {
  const { machine } = run;
  const lines: string[] = [
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench`; edit bench/docs.ts to change the text. -->',
    '',
    '`npm run bench` measures the platform and its baselines on one machine in one run. It prints a',
    'table, writes the figures to `bench/results/` (one JSON file per run, named by its start time',
    'and mode) and rewrites this page. `npm run bench -- --quick` runs fewer and smaller rounds and',
    'finishes in under two minutes.',
    '',
    '## Reading the figures',
    '',
    '- A rate is the median over rounds, with the lowest and highest round. A latency is the median',
    '  of the samples of every round, with p25 to p75 and p99. Memory is the median of samples taken',
    '  every 200 ms, with the lowest and highest sample.',
    '- The development machines are shared with other work, so absolute figures move from run to run.',
    '  Compare systems by the ratios: the platform and its baseline run in the same round, one after',
    '  the other, and each ratio pairs the two figures of one round.',
    '- Targets are goals, reported as pass or miss. No test asserts them.',
    '',
    `## Run of ${run.startedAt.slice(0, 16).replace('T', ' ')} UTC (${run.mode} mode, ${Math.round(run.elapsedSeconds)} s)`,
    '',
    '| Machine | |',
    '| --- | --- |',
    `| CPU | ${machine.cpuModel}, ${machine.cores} logical cores |`,
    `| Memory | ${machine.memoryGiB} GiB |`,
    `| Kernel | Linux ${machine.kernel} |`,
    `| Software | Node ${machine.node}, nats-server ${machine.natsServer}, Redis ${machine.redis ?? 'not used'}, bubblewrap ${machine.bubblewrap}, git ${machine.git} |`,
    `| Load average at start | ${machine.loadAverageAtStart} |`,
    '',
    `Figures: \`${resultFile}\`.`,
    '',
  ];

  for (const benchmark of run.benchmarks) {
    lines.push(`### ${benchmark.title}`, '', benchmark.method, '', ...table(benchmark.measurements), '');
    for (const note of benchmark.notes) lines.push(`- ${note}`);
    if (benchmark.error) lines.push(`- Stopped early: ${benchmark.error}`);
    if (benchmark.notes.length > 0 || benchmark.error) lines.push('');
  }

  if (run.dispatchBreakdown.length > 0) {
    lines.push(
      '### Where time goes between Submit and RUNNING',
      '',
      'Steps of the dispatch-latency jobs, from the client clock, the job record\'s `createdAt` and the',
      'scheduler and worker logs (millisecond times on the same host clock). Steps overlap: the',
      'response to Submit travels while the dispatcher already pulls the job.',
      '',
      ...table(run.dispatchBreakdown),
      '',
    );
  }

  lines.push('## Targets', '', '| Target | This run | Status |', '| --- | --- | --- |');
  for (const target of run.targets) lines.push(`| ${target.target} | ${target.figure} | ${target.status} |`);
  lines.push('', ...gapsSection(run), '', ...methodSection(), '');
  return lines.join('\n');
}

/** Returns what the floor of benchmark 1 means for its target, when the run measured it. */
function submitFloorLines(run: RunResult): string[] {
  const floor = medianOf(run.benchmarks, 'submit-throughput', 'bare-ratio');
  const ofFloor = medianOf(run.benchmarks, 'submit-throughput', 'platform-bare-ratio');
  const single = medianOf(run.benchmarks, 'submit-throughput', 'single-ratio');
  if (floor === undefined || ofFloor === undefined) return [];
  const lines = [
    `- Submit's floor: two bare grpc-js hops, with no TLS, token, telemetry or storage, reach ${floor.toFixed(2)}x of`,
    '  the raw publishes in this run. So as long as each Submit crosses the gateway and the scheduler',
    '  as its own call, the target of 0.5x is out of reach, whatever the services do.',
  ];
  if (single !== undefined) lines.push(`  One Submit per job reaches ${single.toFixed(3)}x of the raw publishes.`);
  lines.push(
    '  FaasClient sends the Submits of 32 callers as SubmitBatch calls, which share the cost of a call',
    `  among their jobs, and reaches ${ofFloor.toFixed(2)}x of the floor. What bounds it then is the work per job:`,
    '  the NATS requests and their handling in the scheduler, as the CPU rows show.',
  );
  return lines;
}

/** Returns the section on what keeps the platform from its baselines, as the profiles and stage timings show. */
function gapsSection(run: RunResult): string[] {
  return [
    '## Where the platform loses to its baselines',
    '',
    ...submitFloorLines(run),
    '- Submit: an accepted Submit checks a token in the gateway and crosses two gRPC hops. It makes',
    '  four JetStream requests where the baseline makes one. The owner\'s list of active jobs and the',
    '  idempotency key are written side by side. The list is a compare-and-set from the revision the',
    '  replica last wrote, shared by the Submits of one owner that arrive together. The job record and',
    '  the queue message follow. With 32 callers the round is CPU-bound:',
    '  the client, gateway, scheduler and nats-server share two cores. FaasClient sends the calls of',
    '  one event-loop turn as one SubmitBatch call, so the gateway checks the token once per batch and',
    '  each hop makes one call for up to 100 jobs; the NATS requests stay per job. The scheduler sends what all',
    '  callbacks of one event-loop turn queued for NATS in one write (`services/scheduler/nats-writes.ts`),',
    '  half a write call per Submit where nats.js alone made one and a half. The raw baseline pays',
    '  none of this.',
    '- End to end: the CPU-per-job rows show the cost. For each job the scheduler publishes about',
    '  twelve NATS messages (nats-server\'s /connz counted 11.8 per job in one run). Besides the Submit',
    '  requests above, they are the pull, two or three record writes',
    '  (RUNNING, the running phase unless the outcome arrived first, the final state) and the result.',
    '  Then come the finished job\'s index entry, the owner\'s list, the log\'s end marker and the ack.',
    '  Each NATS request is acknowledged, where BullMQ runs a few Redis scripts per job. The worker',
    '  looks up the ref (once per burst of jobs), hands the checkout to the slot\'s user, and sets the',
    '  job folder back afterwards. On ext4 every new file or folder costs a search among recently freed',
    '  inodes, so a job folder is reused with its checkout, which a later job of the same commit finds',
    '  in place. Each job still makes and removes its cgroups and measures its folder\'s disk use',
    '  when the run ends. The worker no longer forks itself: a small launcher process starts each',
    '  program, which saved about 1 ms of CPU on each side of the fork per job. The baselines only',
    '  run the command, and they share the sandbox code with the worker (`createJobCgroup`,',
    '  `buildSandboxCommand`), so a faster sandbox speeds up both sides alike. Since one compiled',
    '  program (`faas-enter`) replaced the shell, prlimit and setpriv in front of bubblewrap, a',
    '  sandboxed `sh -c true` costs a quarter less CPU on either side. Besides the CPU, a slot',
    '  waits for its job\'s steps in turn: the outcome crosses the worker stream and the dispatcher pulls',
    '  the next job before the slot runs again. The client that submits and follows the jobs runs',
    '  on the same two cores too, where the bare baseline has none.',
    '- Start-up: a new process of the platform runs its hot code unoptimized at first, and V8 keeps',
    '  compiling functions for its first few thousand jobs. Without a warm-up, up to a quarter of',
    '  the scheduler\'s CPU went to the optimizing compiler, and the rate rose by half from the first',
    '  round to the eighth. The rounds therefore follow untimed warm-up jobs on every system. Even',
    '  after 2,000 warm-up jobs, `perf` put 12 to 20% of the CPU samples of the scheduler, gateway and',
    '  worker in the optimizing compiler, against 6 to 13% in the BullMQ worker and the bare spawner.',
    '  V8\'s `--trace-deopt` showed why: it drops optimized code whose objects a garbage collection freed',
    '  ("weak objects") or that meets an object of a new shape ("wrong map"), then compiles it again.',
    '  Starting the services with `--maglev`, `--no-turbo-inlining` or `--no-flush-bytecode` did not',
    '  lower their CPU per job.',
    '- Dispatch: the scheduler stores RUNNING one to two milliseconds after Submit returns (the',
    '  `startedAt` row). The rest is the Watch round trip: two gRPC hops to open the stream, the',
    '  ownership check (a read of the record), and the relay back of the versions, which the',
    '  scheduler that wrote them sends from memory. Meanwhile the worker fetches and starts the job',
    '  on the same two cores.',
    '- Memory: the services run compiled, as the images run them; under tsx each would take about 40 MB',
    '  more. Workers run with a 1 MiB young generation (`common/node-flags.ts`).',
  ];
}

function table(measurements: Measurement[]): string[] {
  const rows = ['| Figure | Median | Spread | p99 | n |', '| --- | ---: | --- | ---: | ---: |'];
  for (const item of measurements) {
    const cells = measurementCells(item);
    rows.push(`| ${item.label} | ${cells.median} | ${cells.spread} | ${cells.p99} | ${cells.count} |`);
  }
  return rows;
}

function methodSection(): string[] {
  return [
    '## Method',
    '',
    '- The platform runs as separate processes, started by `dev/stack.ts`: a private nats-server',
    '  (file storage) and every service the stack starts, with one worker of 4 slots, talking gRPC',
    '  with mutual TLS. The client is `FaasClient` with a service-account token of the',
    '  development OpenID Provider, so every call pays the gateway\'s token check. A git server in a',
    '  process of its own serves the benchmark\'s repositories over HTTP on 127.0.0.1, as an outside',
    '  server would, so its `git http-backend` children do not start from the measuring process.',
    '- Submit throughput runs with no worker connected, so only Submit works. It submits as the',
    '  development user alice, so its jobs stay apart from the other benchmarks, which submit as the',
    '  service account. Each round\'s jobs are cancelled after the round, outside the timing. The raw',
    '  baseline publishes to a work-queue stream on the same server, like the job queue, without',
    '  de-duplication ids.',
    '- End-to-end rounds queue all their jobs at once and time until the last one is final. Platform',
    '  jobs come from the worker\'s repository cache with ref HEAD, build nothing and run `sh -c true`.',
    '  The round submits its jobs at once, so one lookup of HEAD serves those submitted before it',
    '  started (`FAAS_CACHE_REF_REUSE`); the job start benchmark submits one job at a time, so each',
    '  of its HEAD jobs looks the ref up. The bare baseline spawns the same command',
    '  through the worker\'s own functions (`createJobCgroup`, `buildSandboxCommand`), in job folders',
    '  prepared once per slot. The BullMQ worker runs in its own process with the same functions.',
    '  BullMQ uses the Redis server at 127.0.0.1:6379 when it replies to PING, with keys under a',
    '  prefix unique to the run that are deleted afterwards. Otherwise it starts',
    '  `redis-server --save "" --appendonly no` on a free loopback port.',
    '- Sandbox off: the worker has no setting that turns a working sandbox off. The benchmark starts',
    '  a worker whose work folder sits in a folder other users cannot search, so its start-up probe',
    '  fails, and `FAAS_ALLOW_UNSANDBOXED=true` lets it run jobs without isolation. The result of the',
    '  job that starts each worker confirms its isolation.',
    '- Before its first round, each system of the end-to-end benchmark runs the same jobs untimed',
    '  (300, or 48 in quick mode), so that the rounds measure processes past V8\'s compilation of',
    '  their hot code. The other benchmarks run before it, so the scheduler and gateway are warm too.',
    '- Dispatch latency submits one job at a time to an idle worker and opens Watch as soon as Submit',
    '  returns. Watch replays the job\'s history, so a RUNNING record written before the stream opened',
    '  still arrives, but setting up the stream is part of the observed time. The second figure takes',
    '  the job record\'s `startedAt` instead, which the scheduler sets when it writes RUNNING.',
    '- CPU per job is user plus system time from `/proc/<pid>/stat` over a round, divided by the',
    '  round\'s jobs. It is read for each service process and the nats-server, and for the worker\'s',
    '  child processes (git). The worker\'s process launcher waits for the jobs\' programs, so their',
    '  CPU time counts among the launcher\'s child processes. It is also read for the git server with its',
    '  `git http-backend` children, the bare baseline\'s child processes, and the BullMQ worker',
    '  process with its children. Redis reports its own CPU time in `INFO cpu`, which counts the',
    '  work of the shared server\'s other clients too.',
    '- The services run without a trace exporter, as `npm start` does, so they make no spans. With',
    '  an exporter set, each service also keeps the trace context of every call and records spans.',
    '- Every benchmark has a fixed number of rounds and a time limit. Every process the run starts is',
    '  stopped by its pid at the end, also after an error or Ctrl-C.',
    '',
    'Options: `npm run bench -- [--quick] [--rounds N] [--only names] [--cpu-prof] [--keep-data] [--no-write]`.',
    '`--only` takes a comma-separated list of `list`, `submit`, `dispatch`, `start`, `end-to-end`.',
    '`--cpu-prof` writes a V8 CPU profile of each service process into a temporary folder, which the run',
    'prints with the functions of most self time. `--no-write` leaves `bench/results/` and this page alone.',
  ];
}
