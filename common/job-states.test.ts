import assert from 'node:assert/strict';
import { JobState } from '../gen/faas/v1/job.js';
import { canTransition, finalStates, isFinal, parseStateName, stateName } from './job-states.js';

describe('job states', () => {
  it('lets a queued job start, be cancelled or fail', () => {
    assert.ok(canTransition(JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING));
    assert.ok(canTransition(JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_CANCELLED));
    assert.ok(!canTransition(JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_SUCCEEDED));
  });

  it('never leaves a final state', () => {
    assert.equal(finalStates.length, 4);
    for (const state of finalStates) {
      assert.ok(isFinal(state));
      for (const next of Object.values(JobState).filter((v): v is JobState => typeof v === 'number')) {
        assert.ok(!canTransition(state, next), `${stateName(state)} -> ${stateName(next)}`);
      }
    }
  });

  it('lets a running job requeue or finish', () => {
    for (const next of [JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_TIMED_OUT]) {
      assert.ok(canTransition(JobState.JOB_STATE_RUNNING, next));
    }
  });

  it('parses state names both ways', () => {
    assert.equal(parseStateName('running'), JobState.JOB_STATE_RUNNING);
    assert.equal(parseStateName('JOB_STATE_TIMED_OUT'), JobState.JOB_STATE_TIMED_OUT);
    assert.equal(parseStateName('unspecified'), undefined);
    assert.equal(parseStateName('bogus'), undefined);
    assert.equal(stateName(JobState.JOB_STATE_TIMED_OUT), 'timed_out');
  });
});
