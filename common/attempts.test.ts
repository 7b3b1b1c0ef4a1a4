import assert from 'node:assert/strict';
import { describeAttempt } from './attempts.js';

describe('describeAttempt', () => {
  it('adds the attempts the platform cut short, when there are any', () => {
    assert.equal(describeAttempt({ attempt: 1, interruptedAttempts: 0 }), '1');
    assert.equal(describeAttempt({ attempt: 3, interruptedAttempts: 2 }), '3 (2 cut short by the platform, not counted)');
  });
});
