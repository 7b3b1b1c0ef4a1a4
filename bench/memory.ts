import { readdirSync, readFileSync } from 'node:fs';
import type { Platform } from './platform.js';
import { measurement, type BenchmarkResult, type Measurement } from './results.js';
import { RssSampler, type RssSamples, type SampledProcess } from './rss.js';
import type { Isolation } from './sandboxed-command.js';

/**
 * Benchmark 5: resident memory (VmRSS) of each service process and of the
 * nats-server, idle and while benchmark 2 runs jobs through the platform.
 * It gathers samples from the other steps and turns them into one result.
 */
export class MemoryBenchmark {
  private readonly measurements: Measurement[] = [];
  private readonly started = performance.now();
  /** The launcher found for each worker pid, kept while it stays that worker's child. */
  private readonly launchers = new Map<number, number>();

  constructor(private readonly platform: Platform) {}

  /** Returns a sampler of the current service processes, with the worker named after its isolation. */
  sampler(isolation: Isolation): RssSampler {
    return new RssSampler(() => this.processes(isolation));
  }

  /** Samples the idle platform for `durationMs`. */
  async sampleIdle(isolation: Isolation, durationMs: number): Promise<void> {
    this.add(await this.sampler(isolation).sampleFor(durationMs), 'idle', isolation);
  }

  /** Adds the samples a sampler took under load. */
  addLoad(samples: RssSamples[], isolation: Isolation): void {
    this.add(samples, 'load', isolation);
  }

  result(): BenchmarkResult {
    return {
      id: 'memory',
      title: 'Resident memory (VmRSS)',
      method:
        'VmRSS from /proc/<pid>/status of each service process and of the nats-server, every 200 ms: idle (after a warm-up job, no jobs running) and during the platform rounds of benchmark 2. Figures: median of the samples, with min-max.',
      measurements: this.measurements,
      notes: ['the worker idles at first with the sandbox on, later with it off (a new process)'],
      elapsedMs: performance.now() - this.started,
    };
  }

  private add(samples: RssSamples[], phase: 'idle' | 'load', isolation: Isolation): void {
    for (const { name, valuesMiB } of samples) {
      // Services other than the worker are the same processes in both isolations; keep their first figures.
      const key = `${name}-${phase}`;
      if (this.measurements.some((existing) => existing.key === key)) continue;
      const sandbox = `(sandbox ${isolation === 'sandboxed' ? 'on' : 'off'})`;
      let service = name;
      if (name === `worker-${isolation}`) service = `worker ${sandbox}`;
      if (name === `launcher-${isolation}`) service = `worker's process launcher ${sandbox}`;
      const label = `${service}, ${phase === 'idle' ? 'idle' : 'under benchmark 2'}`;
      this.measurements.push(measurement(key, label, 'MiB', 'min-max', valuesMiB));
    }
  }

  /** Returns the service processes and the nats-server, with the current worker named after its isolation. */
  processes(isolation: Isolation): SampledProcess[] {
    const processes: SampledProcess[] = [];
    for (const service of this.platform.stack.services()) {
      if (!service.running || service.pid === undefined) continue;
      if (service.name.startsWith('worker-')) {
        if (service.pid !== this.platform.workerPid) continue;
        processes.push({ name: `worker-${isolation}`, pid: service.pid });
        // The launcher waits for the jobs' programs, so their CPU time shows among its children, not the worker's.
        const launcher = this.launcherOf(service.pid);
        if (launcher !== undefined) processes.push({ name: `launcher-${isolation}`, pid: launcher });
      } else {
        processes.push({ name: service.name, pid: service.pid });
      }
    }
    const nats = this.platform.stack.natsServer;
    if (nats) processes.push({ name: 'nats-server', pid: nats.pid });
    return processes;
  }

  /**
   * Returns the pid of the worker's launcher, which starts with the first job.
   * The sampler calls this every 200 ms, so /proc is scanned only until the launcher is found.
   */
  private launcherOf(worker: number): number | undefined {
    const known = this.launchers.get(worker);
    if (known !== undefined && readParent(known)?.parent === worker) return known;
    const found = findChild(worker, 'faas-launch');
    if (found === undefined) this.launchers.delete(worker);
    else this.launchers.set(worker, found);
    return found;
  }
}

/** Finds, in /proc, a child of `parent` whose command name starts with `prefix`, and returns its pid. */
function findChild(parent: number, prefix: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const candidate = readParent(Number(entry));
    if (candidate?.parent === parent && candidate.name.startsWith(prefix)) return Number(entry);
  }
  return undefined;
}

/** Reads the command name and parent pid of `pid` from /proc; undefined once it is gone. */
function readParent(pid: number): { name: string; parent: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  // Field 4, the parent pid, is the second after the name.
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return { name, parent };
}
