import type { ApiError } from './api.js';

/** Status codes after which opening a stream again may succeed. */
const retryableCodes = new Set(['UNAVAILABLE', 'INTERNAL', 'UNKNOWN', 'DEADLINE_EXCEEDED', 'DATA_LOSS']);

export function isRetryable(error: ApiError): boolean {
  return retryableCodes.has(error.code);
}

/** Exponential backoff from 500 ms, at most 8 s, for the `failures`-th failure in a row. */
export function retryDelayMs(failures: number): number {
  return Math.min(8_000, 500 * 2 ** (failures - 1));
}

/** Resolves after `milliseconds`, or at once when `signal` aborts. */
export function delay(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = window.setTimeout(done, milliseconds);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      window.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
