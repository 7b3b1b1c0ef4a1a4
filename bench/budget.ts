import { setMaxListeners } from 'node:events';

/** Thrown when a benchmark passes its time limit or the run is interrupted. */
export class BudgetExceededError extends Error {
  override readonly name = 'BudgetExceededError';
}

/**
 * Time limit of one benchmark, linked with the run's interrupt signal.
 * Every call a benchmark makes takes `signal`, so Ctrl-C or the limit
 * aborts calls in flight, and the benchmark calls `check` between rounds.
 */
export class Budget {
  readonly signal: AbortSignal;
  private readonly deadlineMs: number;

  constructor(
    readonly label: string,
    readonly timeLimitMs: number,
    private readonly interrupt: AbortSignal,
  ) {
    this.deadlineMs = Date.now() + timeLimitMs;
    this.signal = AbortSignal.any([interrupt, AbortSignal.timeout(timeLimitMs)]);
    // Every call in flight listens on the signal: dozens at once.
    setMaxListeners(1_000, this.signal);
  }

  get remainingMs(): number {
    return Math.max(0, this.deadlineMs - Date.now());
  }

  /**
   * Returns a signal for clean-up after the benchmark, such as cancelling its
   * jobs: it aborts on an interrupt or after `timeoutMs`, not at the time limit.
   */
  cleanupSignal(timeoutMs = 60_000): AbortSignal {
    const signal = AbortSignal.any([this.interrupt, AbortSignal.timeout(timeoutMs)]);
    setMaxListeners(1_000, signal);
    return signal;
  }

  /** Throws BudgetExceededError once the time limit has passed or the run was interrupted. */
  check(): void {
    if (this.interrupt.aborted) throw new BudgetExceededError(`${this.label}: interrupted`);
    if (this.signal.aborted) throw new BudgetExceededError(`${this.label}: time limit of ${this.timeLimitMs / 1000} s reached`);
  }
}
