import { parseStateName } from '../common/job-states.js';
import type { JobState } from '../gen/faas/v1/job.js';
import { UsageError } from './usage-error.js';

/** Largest value of a proto uint32 field, such as `timeout_seconds`. */
const maxUint32 = 4_294_967_295;
const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses repeated `--env KEY=VALUE` entries. A later value for the same key wins. */
export function parseEnv(entries: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const separator = entry.indexOf('=');
    if (separator === -1) {
      throw new UsageError(`--env: expected KEY=VALUE, got "${entry}"`, 'submit');
    }
    const key = entry.slice(0, separator);
    if (!envNamePattern.test(key)) {
      throw new UsageError(
        `--env: invalid variable name "${key}", expected letters, digits and _ not starting with a digit`,
        'submit',
      );
    }
    env[key] = entry.slice(separator + 1);
  }
  return env;
}

/** Parses `--timeout`. 0 requests the operator's default, as an unset timeout_seconds does. */
export function parseTimeoutSeconds(raw: string): number {
  const seconds = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(seconds) || seconds > maxUint32) {
    // The gateway checks the upper bound, which its operator sets.
    const expected = 'a whole number of seconds up to the operator\'s limit (3600 unless changed), or 0 for the default';
    throw new UsageError(`--timeout: expected ${expected}, got "${raw}"`, 'submit');
  }
  return seconds;
}

export function parseLimit(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const limit = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new UsageError(`--limit: expected a whole number from 1 up, got "${raw}"`, 'list');
  }
  return limit;
}

export function parseState(raw: string | undefined): JobState | undefined {
  if (raw === undefined) return undefined;
  const state = parseStateName(raw);
  if (state === undefined) {
    throw new UsageError(
      `--state: unknown state "${raw}", expected queued, running, succeeded, failed, timed_out or cancelled`,
      'list',
    );
  }
  return state;
}
