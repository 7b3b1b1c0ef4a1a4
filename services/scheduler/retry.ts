import { JobState, type Job } from '../../gen/faas/v1/job.js';
import type { JobOutcome } from '../../gen/faas/worker/v1/worker_service.js';
import type { SchedulerConfig } from './config.js';

/** Returns how many attempts `job` may have: its own policy, within the operator's limit. */
export function attemptsAllowed(job: Job, config: SchedulerConfig): number {
  const requested = job.spec?.retry?.maxAttempts || config.maxAttempts;
  return Math.min(requested, config.maxAttemptsLimit);
}

/** Tells whether `job` may start another attempt: the attempts the platform cut short itself do not count. */
export function attemptsLeft(job: Job, config: SchedulerConfig): boolean {
  return job.attempt - job.interruptedAttempts < attemptsAllowed(job, config);
}

/**
 * Tells whether a failed attempt should be followed by another: platform
 * failures always are, failures of the job's code only when its policy requests it,
 * cancelled jobs never, and none once the attempts are used up.
 */
export function shouldRetry(job: Job, outcome: JobOutcome, config: SchedulerConfig): boolean {
  if (outcome.state !== JobState.JOB_STATE_FAILED && outcome.state !== JobState.JOB_STATE_TIMED_OUT) return false;
  if (job.cancelRequested) return false;
  if (!outcome.platformFailure && !job.spec?.retry?.retryFailedRuns) return false;
  return attemptsLeft(job, config);
}

/**
 * Returns the wait before attempt `attempt + 1`: exponential from the base
 * delay, capped, with "equal jitter" (a random half of it), so retries of
 * many jobs do not arrive together.
 */
export function retryDelayMs(attempt: number, config: SchedulerConfig, random: () => number = Math.random): number {
  const exponential = Math.min(config.retryMaxDelayMs, config.retryBaseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

/** Endings of the record's error of a job that goes back to the queue. The retry marker leaves them out, because the retry has begun. */
export const retryClauses = {
  /** After a failed attempt that counts against the job's attempts. */
  retried: '; it will be retried',
  /** After an attempt that the scheduler's stop interrupted, which does not count. */
  runsAgain: '; it runs again',
} as const;

/** Returns why the previous attempt ended, from the record's error, without the clause that announced its retry. */
export function previousAttemptError(message: string): string {
  const clause = Object.values(retryClauses).find((ending) => message.endsWith(ending));
  return clause === undefined ? message : message.slice(0, -clause.length);
}
