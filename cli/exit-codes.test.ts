import assert from 'node:assert/strict';
import { FailureReason, Job, JobState } from '../gen/faas/v1/job.js';
import { jobExitCode } from './exit-codes.js';

describe('jobExitCode', () => {
  const cases: { state: JobState; exitCode?: number; signal?: string; reason?: FailureReason; expected: number }[] = [
    { state: JobState.JOB_STATE_SUCCEEDED, exitCode: 0, expected: 0 },
    { state: JobState.JOB_STATE_SUCCEEDED, expected: 0 },
    { state: JobState.JOB_STATE_FAILED, exitCode: 3, expected: 3 },
    { state: JobState.JOB_STATE_FAILED, expected: 1 },
    { state: JobState.JOB_STATE_FAILED, exitCode: 256, expected: 1 },
    { state: JobState.JOB_STATE_FAILED, exitCode: -1, expected: 1 },
    { state: JobState.JOB_STATE_TIMED_OUT, expected: 124 },
    // A program that exited by itself after SIGTERM still reads as timed out or cancelled.
    { state: JobState.JOB_STATE_TIMED_OUT, exitCode: 137, expected: 124 },
    { state: JobState.JOB_STATE_TIMED_OUT, exitCode: 3, expected: 124 },
    { state: JobState.JOB_STATE_CANCELLED, exitCode: 3, expected: 130 },
    { state: JobState.JOB_STATE_CANCELLED, expected: 130 },
    { state: JobState.JOB_STATE_FAILED, signal: 'SIGSEGV', expected: 139 },
    { state: JobState.JOB_STATE_FAILED, signal: 'SIGKILL', expected: 137 },
    { state: JobState.JOB_STATE_TIMED_OUT, signal: 'SIGKILL', expected: 124 },
    { state: JobState.JOB_STATE_FAILED, signal: 'SIGNOPE', expected: 1 },
    { state: JobState.JOB_STATE_FAILED, reason: FailureReason.FAILURE_REASON_START_FAILED, expected: 127 },
    { state: JobState.JOB_STATE_FAILED, reason: FailureReason.FAILURE_REASON_CLONE_FAILED, expected: 1 },
    // A program that exited 0 after passing a limit: the job failed, so the exit code must not read as success.
    { state: JobState.JOB_STATE_FAILED, exitCode: 0, reason: FailureReason.FAILURE_REASON_DISK_LIMIT, expected: 1 },
    { state: JobState.JOB_STATE_TIMED_OUT, exitCode: 0, expected: 124 },
    { state: JobState.JOB_STATE_CANCELLED, exitCode: 0, expected: 130 },
  ];

  for (const { state, exitCode, signal, reason, expected } of cases) {
    it(`returns ${expected} for ${JobState[state]} with exit code ${exitCode ?? 'unset'}${signal ? ` and ${signal}` : ''}${reason ? ` and ${FailureReason[reason]}` : ''}`, () => {
      const error = reason === undefined ? undefined : { reason, message: '' };
      assert.equal(jobExitCode(Job.fromPartial({ state, exitCode, signal, error })), expected);
    });
  }
});
