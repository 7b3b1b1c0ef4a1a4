import { parseStateName } from '../common/job-states.js';
import type { JobState } from '../gen/faas/v1/job.js';
import { byteUnitNames, parseBytes, unknownByteUnit } from '../common/config.js';
import { maxUint32 } from '../common/limits.js';
import { UsageError } from './usage-error.js';

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

/** Parses a size option of submit, such as --memory 256MiB, into bytes. As in the API, 0 requests the default. */
export function parseSize(option: string, raw: string): number {
  const unit = unknownByteUnit(raw);
  if (unit !== undefined) throw new UsageError(`--${option}: unknown unit "${unit}" in "${raw}"; use ${byteUnitNames}`, 'submit');
  const bytes = parseBytes(raw);
  if (bytes === undefined) throw new UsageError(`--${option}: expected a size such as 256MiB or 1GiB, or 0 for the default, got "${raw}"`, 'submit');
  return bytes;
}

/** Parses a whole-number option of submit, such as --pids 64. As in the API, 0 requests the default. */
export function parseCount(option: string, raw: string): number {
  const count = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(count) || count > maxUint32) {
    throw new UsageError(`--${option}: expected a whole number from 0 up, with 0 for the default, got "${raw}"`, 'submit');
  }
  return count;
}
