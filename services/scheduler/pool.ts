import { WorkerSession } from './worker-session.js';

/** The workers connected to this replica, and a way to wait for a free slot. */
export class WorkerPool {
  private readonly sessions = new Map<string, WorkerSession>();
  private waiters: Array<() => void> = [];

  add(session: WorkerSession): void {
    this.sessions.set(session.workerId, session);
    this.notify();
  }

  remove(session: WorkerSession): void {
    if (this.sessions.get(session.workerId) === session) this.sessions.delete(session.workerId);
  }

  has(workerId: string): boolean {
    return this.sessions.has(workerId);
  }

  all(): WorkerSession[] {
    return [...this.sessions.values()];
  }

  freeSlots(): number {
    let free = 0;
    for (const session of this.sessions.values()) free += session.freeSlots;
    return free;
  }

  /** Returns the worker with the most free slots, spreading jobs across workers. */
  pick(): WorkerSession | undefined {
    let best: WorkerSession | undefined;
    for (const session of this.sessions.values()) {
      if (session.freeSlots > 0 && (!best || session.freeSlots > best.freeSlots)) best = session;
    }
    return best;
  }

  /** Job slots of the connected workers, and how many of them run a job. */
  slotTotals(): { slots: number; busySlots: number } {
    let slots = 0;
    let busySlots = 0;
    for (const session of this.sessions.values()) {
      slots += session.slots;
      busySlots += session.busySlots;
    }
    return { slots, busySlots };
  }

  holderOf(jobId: string): WorkerSession | undefined {
    for (const session of this.sessions.values()) if (session.jobs.has(jobId)) return session;
    return undefined;
  }

  /** Wakes waiters after a worker joined or a slot was freed. */
  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Counts the jobs that the workers of this replica have, running or with their outcome being stored. */
  heldJobs(): number {
    let held = 0;
    for (const session of this.sessions.values()) held += session.jobs.size;
    return held;
  }

  /** Resolves with true once no worker has a job, or with false after `timeoutMs`. */
  async waitUntilIdle(timeoutMs: number): Promise<boolean> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (this.heldJobs() > 0 && !signal.aborted) await this.nextChange(signal);
    return this.heldJobs() === 0;
  }

  /** Resolves when some worker has a free slot, or when `signal` aborts. */
  async waitForFreeSlot(signal: AbortSignal): Promise<void> {
    while (this.freeSlots() === 0 && !signal.aborted) await this.nextChange(signal);
  }

  /** Resolves at the next `notify`, or when `signal` aborts. */
  private nextChange(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const onAbort = () => resolve();
      this.waiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
