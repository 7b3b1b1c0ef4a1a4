import { readFile } from 'node:fs/promises';
import { measurement, type Measurement } from './results.js';
import type { SampledProcess } from './rss.js';

/** CPU time of a process and of its children that have exited and been waited for, in ms. */
export interface CpuTimes {
  ownMs: number;
  childrenMs: number;
}

/**
 * Clock ticks per second of the times in /proc/<pid>/stat. Linux reports
 * them in USER_HZ, which is 100 on every common architecture.
 */
const ticksPerSecond = 100;

/** Reads user plus system time of `pid` and of its waited-for children from /proc/<pid>/stat, or undefined once it is gone. */
export async function readCpuTimes(pid: number): Promise<CpuTimes | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // The command name in brackets may contain spaces, so fields are counted after its closing bracket.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (14), stime (15), cutime (16) and cstime (17) sit at 11 to 14.
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
  const toMs = (ticks: number) => (ticks * 1000) / ticksPerSecond;
  return { ownMs: toMs(utime + stime), childrenMs: toMs(cutime + cstime) };
}

/**
 * CPU time per unit of work (a job, a call) of a set of processes over one
 * round, from /proc. Own time and the time of waited-for children (git, the
 * sandbox) count apart.
 */
export class CpuPerUnit {
  private readonly before = new Map<number, CpuTimes>();
  private readonly values = new Map<string, { label: string; values: number[] }>();

  /** `unit` names what one share is, as in "CPU per job". */
  constructor(
    private readonly unitsPerRound: number,
    private readonly unit: string,
  ) {}

  async begin(processes: SampledProcess[]): Promise<void> {
    for (const { pid } of processes) {
      const times = await readCpuTimes(pid);
      if (times) this.before.set(pid, times);
    }
  }

  /** Adds each process's CPU per unit since `begin`: own time and children apart, or only the children's with `only`. */
  async end(processes: SampledProcess[], only?: 'children'): Promise<void> {
    const per = `CPU per ${this.unit}`;
    for (const { name, pid } of processes) {
      const before = this.before.get(pid);
      const after = await readCpuTimes(pid);
      if (!before || !after) continue;
      if (only !== 'children') this.add(`cpu-${name}`, `${per}: ${name}`, (after.ownMs - before.ownMs) / this.unitsPerRound);
      const childrenMs = (after.childrenMs - before.childrenMs) / this.unitsPerRound;
      if (only === 'children') this.add(`cpu-${name}`, `${per}: ${name} (child processes)`, childrenMs);
      else if (childrenMs > 0) this.add(`cpu-${name}-children`, `${per}: ${name}'s child processes`, childrenMs);
    }
  }

  /** Adds the CPU time `totalMs` that process `name` reported for itself over one round. */
  addReported(name: string, totalMs: number): void {
    this.add(`cpu-${name}`, `CPU per ${this.unit}: ${name}`, totalMs / this.unitsPerRound);
  }

  measurements(): Measurement[] {
    return [...this.values].map(([key, { label, values }]) => measurement(key, label, 'ms', 'min-max', values));
  }

  private add(key: string, label: string, value: number): void {
    const entry = this.values.get(key) ?? { label, values: [] };
    entry.values.push(value);
    this.values.set(key, entry);
  }
}
