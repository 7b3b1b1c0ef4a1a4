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
      const service = name === `worker-${isolation}` ? `worker ${sandbox}` : name === `launcher-${isolation}` ? `worker's process launcher ${sandbox}` : name;
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
        const launcher = findChild(service.pid, 'faas-launch');
        if (launcher !== undefined) processes.push({ name: `launcher-${isolation}`, pid: launcher });
      } else {
        processes.push({ name: service.name, pid: service.pid });
      }
    }
    const nats = this.platform.stack.natsServer;
    if (nats) processes.push({ name: 'nats-server', pid: nats.pid });
    return processes;
  }
}

/** The pid of a child of `parent` whose command name starts with `prefix`, from /proc. */
function findChild(parent: number, prefix: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Field 4, the parent pid, is the second after the name.
    const parentPid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parentPid === parent && name.startsWith(prefix)) return Number(entry);
  }
  return undefined;
}
