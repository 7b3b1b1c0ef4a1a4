import assert from 'node:assert/strict';
import { Job, JobSpec } from '../../gen/faas/v1/job.js';
import { sameSpec } from './job-service.js';

describe('sameSpec', () => {
  const defaults = { defaultTimeoutSeconds: 300, maxAttempts: 3, maxAttemptsLimit: 10 };
  const base = { repositoryUrl: 'https://example.test/repo.git', env: { A: '1', B: '2' }, idempotencyKey: 'order-1' };
  const stored = Job.fromPartial({ id: 'j1', spec: base, inputSizeBytes: 0 });
  const matches = (request: Partial<JobSpec>) => sameSpec(stored, JobSpec.fromPartial({ ...base, ...request }), defaults);

  it('matches defaults spelled out', () => {
    assert.equal(matches({}), true);
    assert.equal(matches({ env: { B: '2', A: '1' } }), true, 'variables in another order');
    assert.equal(matches({ timeoutSeconds: 300 }), true, 'the default timeout');
    assert.equal(matches({ retry: { maxAttempts: 3, retryFailedRuns: false } }), true, 'the default retry policy');
    assert.equal(matches({ limits: { memoryBytes: 0, pids: 0, cpuPercent: 0, fileSizeBytes: 0, openFiles: 0, diskBytes: 0 } }), true, 'limits left to the operator');
  });

  it('tells other requests apart', () => {
    assert.equal(matches({ timeoutSeconds: 301 }), false);
    assert.equal(matches({ retry: { maxAttempts: 4, retryFailedRuns: false } }), false);
    assert.equal(matches({ retry: { maxAttempts: 0, retryFailedRuns: true } }), false);
    assert.equal(matches({ env: { A: '1', B: '3' } }), false);
    assert.equal(matches({ args: ['other'] }), false);
    assert.equal(matches({ input: Buffer.from('x') }), false);
  });
});
