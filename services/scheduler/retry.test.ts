import assert from 'node:assert/strict';
import { FailureReason, Job, JobState } from '../../gen/faas/v1/job.js';
import type { JobOutcome } from '../../gen/faas/worker/v1/worker_service.js';
import { readSchedulerConfig } from './config.js';
import { attemptsAllowed, previousAttemptError, retryDelayMs, shouldRetry } from './retry.js';

const config = readSchedulerConfig({});

function job(attempt: number, retry?: { maxAttempts?: number; retryFailedRuns?: boolean }, cancelRequested = false): Job {
  return Job.fromPartial({ attempt, cancelRequested, spec: { repositoryUrl: 'https://example.com/r.git', retry } });
}

function outcome(state: JobState, platformFailure: boolean): JobOutcome {
  return {
    jobId: 'x',
    attempt: 1,
    state,
    platformFailure,
    commitSha: '',
    traceContext: {},
    error: { reason: FailureReason.FAILURE_REASON_NON_ZERO_EXIT, message: 'exited with code 1' },
  };
}

describe('retry policy', () => {
  it('retries platform failures until attempts run out', () => {
    assert.equal(shouldRetry(job(1), outcome(JobState.JOB_STATE_FAILED, true), config), true);
    assert.equal(shouldRetry(job(2), outcome(JobState.JOB_STATE_FAILED, true), config), true);
    assert.equal(shouldRetry(job(3), outcome(JobState.JOB_STATE_FAILED, true), config), false);
  });

  it('leaves out the attempts that the platform cut short', () => {
    const interrupted = Job.fromPartial({ ...job(3), interruptedAttempts: 1 });
    assert.equal(shouldRetry(interrupted, outcome(JobState.JOB_STATE_FAILED, true), config), true);
    assert.equal(shouldRetry({ ...interrupted, attempt: 4 }, outcome(JobState.JOB_STATE_FAILED, true), config), false);
  });

  it("retries the job's own failures only on request", () => {
    assert.equal(shouldRetry(job(1), outcome(JobState.JOB_STATE_FAILED, false), config), false);
    assert.equal(shouldRetry(job(1, { retryFailedRuns: true }), outcome(JobState.JOB_STATE_TIMED_OUT, false), config), true);
  });

  it('never retries success, cancellation or a cancel request', () => {
    assert.equal(shouldRetry(job(1), outcome(JobState.JOB_STATE_SUCCEEDED, true), config), false);
    assert.equal(shouldRetry(job(1), outcome(JobState.JOB_STATE_CANCELLED, true), config), false);
    assert.equal(shouldRetry(job(1, undefined, true), outcome(JobState.JOB_STATE_FAILED, true), config), false);
  });

  it('caps the attempts a job asks for', () => {
    assert.equal(attemptsAllowed(job(0), config), 3);
    assert.equal(attemptsAllowed(job(0, { maxAttempts: 5 }), config), 5);
    assert.equal(attemptsAllowed(job(0, { maxAttempts: 50 }), config), 10);
  });

  it('backs off exponentially with jitter, within the maximum', () => {
    assert.equal(retryDelayMs(1, config, () => 0), 500);
    assert.equal(retryDelayMs(1, config, () => 1), 1_000);
    assert.equal(retryDelayMs(3, config, () => 1), 4_000);
    assert.equal(retryDelayMs(20, config, () => 1), 60_000);
    for (let attempt = 1; attempt < 10; attempt++) {
      const delay = retryDelayMs(attempt, config);
      assert.ok(delay >= Math.min(60_000, 1_000 * 2 ** (attempt - 1)) / 2, `attempt ${attempt}: ${delay}`);
    }
  });
});

describe('previousAttemptError', () => {
  it('drops the clause that announced the retry', () => {
    assert.equal(previousAttemptError('attempt 1 failed: exited with code 4; it will be retried'), 'attempt 1 failed: exited with code 4');
    assert.equal(previousAttemptError("the scheduler stopped during attempt 1, which does not count against the job's attempts; it runs again"), "the scheduler stopped during attempt 1, which does not count against the job's attempts");
  });

  it('keeps other messages', () => {
    assert.equal(previousAttemptError('worker w-1 disconnected during attempt 1'), 'worker w-1 disconnected during attempt 1');
  });
});
