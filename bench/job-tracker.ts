import { KvWatchInclude, type KV, type KvWatchEntry } from '@nats-io/kv';
import { isFinal } from '../common/job-states.js';
import { Job, JobState } from '../gen/faas/v1/job.js';

/** Latest state of one job, and the time (performance.now()) the tracker first saw it final. */
interface Seen {
  state: JobState;
  finalAtMs?: number;
}

/**
 * Follows every job record through one watch of the jobs bucket, so a
 * benchmark can wait for thousands of jobs to finish without a Watch call
 * per job. It records when each job reached a final state.
 */
export class JobTracker {
  private readonly seen = new Map<string, Seen>();
  private waiters: Array<() => void> = [];

  private watcher: (AsyncIterable<KvWatchEntry> & { stop(): void }) | undefined;

  private constructor(private readonly jobs: KV) {}

  static async start(jobs: KV): Promise<JobTracker> {
    const tracker = new JobTracker(jobs);
    await tracker.resume();
    return tracker;
  }

  /** Stops reading records until `resume`. Jobs whose records change meanwhile keep their last known state. */
  pause(): void {
    this.watcher?.stop();
    this.watcher = undefined;
  }

  /** Reads records again after `pause`, from the next change on. */
  async resume(): Promise<void> {
    if (this.watcher) return;
    const watcher = await this.jobs.watch({ include: KvWatchInclude.UpdatesOnly });
    this.watcher = watcher;
    void this.follow(watcher);
  }

  stateOf(jobId: string): JobState | undefined {
    return this.seen.get(jobId)?.state;
  }

  /**
   * Resolves once every job in `jobIds` is final, with each job's final
   * state and the time it was seen (performance.now()). Rejects when
   * `signal` aborts first.
   */
  async waitForFinal(jobIds: string[], signal: AbortSignal): Promise<Map<string, { state: JobState; atMs: number }>> {
    for (;;) {
      const missing = jobIds.filter((id) => this.seen.get(id)?.finalAtMs === undefined);
      if (missing.length === 0) break;
      if (signal.aborted) throw new Error(`${missing.length} of ${jobIds.length} job(s) did not finish in time, first ${missing[0]}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.push(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    return new Map(jobIds.map((id) => {
      const seen = this.seen.get(id)!;
      return [id, { state: seen.state, atMs: seen.finalAtMs! }];
    }));
  }

  /** Forgets the given jobs, so a long run does not keep every record. */
  forget(jobIds: string[]): void {
    for (const id of jobIds) this.seen.delete(id);
  }

  stop(): void {
    this.pause();
    this.wakeAll();
  }

  private async follow(watcher: AsyncIterable<KvWatchEntry>): Promise<void> {
    for await (const entry of watcher) {
      if (entry.operation !== 'PUT') continue;
      const { state } = Job.decode(entry.value);
      const previous = this.seen.get(entry.key);
      const finalAtMs = previous?.finalAtMs ?? (isFinal(state) ? performance.now() : undefined);
      this.seen.set(entry.key, { state, finalAtMs });
      if (finalAtMs !== undefined && previous?.finalAtMs === undefined) this.wakeAll();
    }
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
