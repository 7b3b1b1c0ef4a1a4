import { readFile } from 'node:fs/promises';

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
