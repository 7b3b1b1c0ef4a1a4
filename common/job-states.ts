import { FailureReason, JobState } from '../gen/faas/v1/job.js';

/**
 * The job lifecycle: each state maps to the states it may change to. A
 * RUNNING job may stay RUNNING (phase and commit updates) or go back to
 * QUEUED when its worker is lost and attempts remain.
 */
const transitions: ReadonlyMap<JobState, readonly JobState[]> = new Map([
  [JobState.JOB_STATE_QUEUED, [JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_CANCELLED, JobState.JOB_STATE_FAILED]],
  [
    JobState.JOB_STATE_RUNNING,
    [
      JobState.JOB_STATE_RUNNING,
      JobState.JOB_STATE_QUEUED,
      JobState.JOB_STATE_SUCCEEDED,
      JobState.JOB_STATE_FAILED,
      JobState.JOB_STATE_TIMED_OUT,
      JobState.JOB_STATE_CANCELLED,
    ],
  ],
  [JobState.JOB_STATE_SUCCEEDED, []],
  [JobState.JOB_STATE_FAILED, []],
  [JobState.JOB_STATE_TIMED_OUT, []],
  [JobState.JOB_STATE_CANCELLED, []],
]);

export function canTransition(from: JobState, to: JobState): boolean {
  return transitions.get(from)?.includes(to) ?? false;
}

export function isFinal(state: JobState): boolean {
  return transitions.get(state)?.length === 0;
}

export const finalStates: readonly JobState[] = [...transitions]
  .filter(([, next]) => next.length === 0)
  .map(([state]) => state);

/** Returns the short lower-case name of a state, as used in CLI output and keys. */
export function stateName(state: JobState): string {
  return JobState[state].replace('JOB_STATE_', '').toLowerCase();
}

/** Returns the short lower-case name of a failure reason, such as "out_of_memory". */
export function failureReasonName(reason: FailureReason): string {
  return (FailureReason[reason] ?? 'UNRECOGNIZED').replace('FAILURE_REASON_', '').toLowerCase();
}

/** Parses a state name such as "running" or "JOB_STATE_RUNNING". */
export function parseStateName(name: string): JobState | undefined {
  const upper = name.trim().toUpperCase();
  const key = upper.startsWith('JOB_STATE_') ? upper : `JOB_STATE_${upper}`;
  const value = (JobState as unknown as Record<string, JobState>)[key];
  return typeof value === 'number' && value !== JobState.JOB_STATE_UNSPECIFIED ? value : undefined;
}
