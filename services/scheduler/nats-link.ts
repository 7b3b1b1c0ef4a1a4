import { ErrorCode, FaasError } from '../../common/errors.js';

/**
 * Whether this replica's connection to NATS is up. Calls that need NATS fail
 * at once while it is down instead of waiting out a request timeout, and an
 * outcome waiting to be stored retries as soon as it is back.
 */
export class NatsLink {
  private up = true;
  private waiters: Array<() => void> = [];

  get connected(): boolean {
    return this.up;
  }

  set(connected: boolean): void {
    this.up = connected;
    if (!connected) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once the connection is up: at once when it is, else at the reconnect. */
  whenConnected(): Promise<void> {
    return this.up ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
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
export async function retryWhileUnavailable(
  apply: () => Promise<void>,
  options: { natsLink: NatsLink; stopping: AbortSignal },
  onRetry: (delayMs: number) => void,
): Promise<void> {
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, maxRetryDelayMs)) {
    try {
      await apply();
      return;
    } catch (error) {
      if (FaasError.from(error).code !== ErrorCode.Unavailable || options.stopping.aborted) throw error;
      onRetry(delayMs);
      await waitForRetry(delayMs, options.natsLink, options.stopping);
    }
  }
}

function waitForRetry(delayMs: number, natsLink: NatsLink, stopping: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stopping.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, delayMs);
    stopping.addEventListener('abort', done, { once: true });
    if (!natsLink.connected) void natsLink.whenConnected().then(() => setTimeout(done, afterReconnectMs));
  });
}
