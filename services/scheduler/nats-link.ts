import { ErrorCode, FaasError } from '../../common/errors.js';

/**
 * Whether this replica's connection to NATS is up. Calls that need NATS fail
 * at once while it is down instead of waiting out a request timeout, and an
 * outcome waiting to be stored retries as soon as it is back.
 */
export class NatsLink {
  private up = true;
  private readonly waiters = new Set<() => void>();

  get connected(): boolean {
    return this.up;
  }

  set(connected: boolean): void {
    this.up = connected;
    if (!connected) return;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /**
   * Calls `wake` once at the next reconnect, and returns the function that
   * cancels the call. A waiter that gave up is removed, so a long outage
   * does not collect them.
   */
  onReconnect(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => this.waiters.delete(wake);
  }
}

/** Settings of `retryWhileUnavailable`. */
export interface OutageRetry {
  natsLink: NatsLink;
  /** Aborts when the replica stops, which ends the retries. */
  stopping: AbortSignal;
  /** Called before each retry, with the delay before it. */
  onRetry: (delayMs: number) => void;
}

/** Upper bound of the wait between two tries while NATS is unavailable. */
const maxRetryDelayMs = 5_000;
/** Pause after a reconnect before the next try, while the client sets up its subscriptions again. */
const afterReconnectMs = 100;

/**
 * Runs `apply` again while it fails with UNAVAILABLE, however long NATS is
 * away: what it stores, such as a job's outcome, lives only in memory until
 * then, and giving up would run the job again. Each try waits for a growing
 * delay or for the reconnect, whichever comes first. Other errors, and any
 * error once `stopping` aborts, are thrown.
 */
export async function retryWhileUnavailable(apply: () => Promise<void>, options: OutageRetry): Promise<void> {
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, maxRetryDelayMs)) {
    try {
      await apply();
      return;
    } catch (error) {
      if (FaasError.from(error).code !== ErrorCode.Unavailable || options.stopping.aborted) throw error;
      options.onRetry(delayMs);
      await waitForRetry(delayMs, options.natsLink, options.stopping);
    }
  }
}

/** Waits `delayMs`, or less when NATS reconnects or the replica stops first. */
function waitForRetry(delayMs: number, natsLink: NatsLink, stopping: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let timer = setTimeout(done, delayMs);
    const cancelWake = natsLink.connected ? () => false : natsLink.onReconnect(() => {
      clearTimeout(timer);
      timer = setTimeout(done, afterReconnectMs);
    });
    stopping.addEventListener('abort', done, { once: true });

    function done(): void {
      clearTimeout(timer);
      cancelWake();
      stopping.removeEventListener('abort', done);
      resolve();
    }
  });
}
