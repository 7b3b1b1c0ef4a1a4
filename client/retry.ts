/** Exponential backoff between retries of a call that failed with UNAVAILABLE. */
export interface BackoffOptions {
  /** Base delay before the first retry, in milliseconds. */
  initialDelayMs: number;
  /** Upper bound of any single delay, in milliseconds. */
  maxDelayMs: number;
}

export const defaultBackoff: BackoffOptions = { initialDelayMs: 100, maxDelayMs: 5_000 };

/**
 * Returns the delay in milliseconds before retry number `retry`, counted from
 * 0. The base doubles with each retry up to `maxDelayMs`, and up to half of it
 * is taken off at random, so clients that failed together do not retry together.
 */
export function backoffDelayMs(retry: number, backoff: BackoffOptions, random: () => number = Math.random): number {
  const baseMs = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * 2 ** retry);
  return Math.round(baseMs / 2 + (random() * baseMs) / 2);
}

/**
 * Resolves after `delayMs`, or rejects with the signal's reason as soon as the
 * signal aborts. The timer is cleared either way.
 */
export function sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }

    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
