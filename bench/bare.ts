import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, type BenchProcess } from './processes.js';
import type { Isolation } from './sandboxed-command.js';

const spawnerEntry = fileURLToPath(new URL('./bare-spawner.ts', import.meta.url));
const startTimeoutMs = 30_000;

/** The bare-spawn baseline: the trivial command spawned with child_process.spawn, in a process of its own (see bare-spawner.ts). */
export class BareBaseline {
  private rounds = 0;

  private constructor(private readonly spawner: BenchProcess) {}

  /** The process whose child processes are the baseline's commands. */
  get pid(): number {
    return this.spawner.pid;
  }

  /** Starts the spawner with `slots` slots; `workRoot` must have searchable ancestors for sandboxed runs. */
  static async start(options: { slots: number; workRoot: string; uidBase: number; logDir: string }): Promise<BareBaseline> {
    const spawner = startProcess('bare-spawner', process.execPath, ['--import', 'tsx', spawnerEntry], {
      logFile: join(options.logDir, 'bare-spawner.log'),
      input: true,
      env: { ...process.env, BENCH_SLOTS: String(options.slots), BENCH_WORK_ROOT: options.workRoot, BENCH_UID_BASE: String(options.uidBase) },
    });
    try {
      await spawner.waitForOutput('ready', startTimeoutMs);
    } catch (error) {
      await spawner.stop();
      throw error;
    }
    return new BareBaseline(spawner);
  }

  /** Runs `jobs` commands, as many at once as there are slots, and returns the elapsed ms; rejects when one fails. */
  async runRound(jobs: number, isolation: Isolation, timeoutMs: number): Promise<number> {
    const round = ++this.rounds;
    this.spawner.write(`${round} ${jobs} ${isolation}\n`);
    const line = await this.spawner.waitForOutput(`round ${round} `, timeoutMs);
    const [, , outcome, ...rest] = line.split(' ');
    if (outcome !== 'done') throw new Error(`the bare baseline failed: ${rest.join(' ')}`);
    return Number(rest[0]);
  }

  async stop(): Promise<void> {
    await this.spawner.stop();
  }
}
