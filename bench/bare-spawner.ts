/**
 * Process of the bare-spawn baseline. It spawns the trivial command with
 * child_process.spawn for each job, sandboxed or bare, a fixed number at
 * once. It runs apart from the benchmark process, whose memory grows over a
 * full run, because a fork costs more the more memory the forking process
 * has. `bench/bare.ts` starts it; it prints "ready", then reads one request
 * per stdin line, "<round> <jobs> <isolation>", and prints
 * "round <round> done <elapsed ms>" or "round <round> failed <message>".
 *
 * Environment: BENCH_SLOTS, BENCH_WORK_ROOT (folder for the slot job
 * folders) and BENCH_UID_BASE (host uid of slot 0).
 */
import { createInterface } from 'node:readline';
import { forEachConcurrent } from '../common/concurrency.js';
import { requiredEnv } from './processes.js';
import { TrivialCommandRunner, type Isolation } from './sandboxed-command.js';

/** Reads a variable that bench/bare.ts sets when it starts this process. */
const setting = (name: string) => requiredEnv(name, 'bench/bare.ts');

const slots = Number(setting('BENCH_SLOTS'));
const runner = await TrivialCommandRunner.create(setting('BENCH_WORK_ROOT'), slots, Number(setting('BENCH_UID_BASE')));
process.once('SIGTERM', () => void runner.remove().finally(() => process.exit(0)));
console.log('ready');

for await (const line of createInterface({ input: process.stdin })) {
  const [round, jobs, isolation] = line.trim().split(' ');
  const started = performance.now();
  try {
    await forEachConcurrent(Number(jobs), slots, () => runner.run(isolation as Isolation));
    console.log(`round ${round} done ${performance.now() - started}`);
  } catch (error) {
    console.log(`round ${round} failed ${(error as Error).message.replaceAll('\n', ' ')}`);
  }
}
// The benchmark closed stdin: it is done with this process.
await runner.remove();
