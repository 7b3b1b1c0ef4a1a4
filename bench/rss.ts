import { readFile } from 'node:fs/promises';

/** A process whose resident memory is sampled. */
export interface SampledProcess {
  name: string;
  pid: number;
}

/** Resident memory samples of one process, in MiB. */
export interface RssSamples {
  name: string;
  pid: number;
  valuesMiB: number[];
}

/** Returns VmRSS of `pid` from /proc/<pid>/status in MiB, or undefined once the process is gone. */
export async function readRssMiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const match = status === undefined ? null : /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) / 1024 : undefined;
}

/**
 * Samples the resident memory of a set of processes every `intervalMs`
 * while started. Samples add up over several start and stop cycles.
 */
export class RssSampler {
  private readonly samples = new Map<string, RssSamples>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly processes: () => SampledProcess[],
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
  }

  /** Stops sampling and returns every sample so far, by process. */
  stop(): RssSamples[] {
    clearInterval(this.timer);
    this.timer = undefined;
    return [...this.samples.values()];
  }

  /** Samples for `durationMs`, then stops and returns the samples. */
  async sampleFor(durationMs: number): Promise<RssSamples[]> {
    this.start();
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    return this.stop();
  }

  private async sample(): Promise<void> {
    for (const { name, pid } of this.processes()) {
      const rss = await readRssMiB(pid);
      if (rss === undefined) continue;
      const entry = this.samples.get(name) ?? { name, pid, valuesMiB: [] };
      entry.valuesMiB.push(rss);
      this.samples.set(name, entry);
    }
  }
}
