import assert from 'node:assert/strict';
import { JobSpec, JobState } from '../gen/faas/v1/job.js';
import { FaasError } from './errors.js';
import { validateCancelReason, validateJobId, validateRef, validateSpec, validateStateFilter } from './validation.js';
import { newJobId } from './ids.js';

const policy = { allowHttp: false, maxTimeoutSeconds: 3600 };

function problem(action: () => void): string {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof FaasError);
    assert.equal(error.code, 'invalid_argument');
    return error.message;
  }
  assert.fail('expected INVALID_ARGUMENT');
}

describe('validateSpec', () => {
  const spec = (fields: Partial<JobSpec>) => JobSpec.fromPartial({ repositoryUrl: 'https://example.com/r.git', ...fields });

  it('accepts a minimal https spec', () => {
    validateSpec(spec({}), policy);
  });

  it('rejects a missing spec and URL', () => {
    assert.match(problem(() => validateSpec(undefined, policy)), /^spec: is required/);
    assert.match(problem(() => validateSpec(spec({ repositoryUrl: '' }), policy)), /repository_url: is required/);
  });

  it('accepts http only when the policy allows it', () => {
    assert.match(problem(() => validateSpec(spec({ repositoryUrl: 'http://example.com/r.git' }), policy)), /use https$/);
    validateSpec(spec({ repositoryUrl: 'http://example.com/r.git' }), { ...policy, allowHttp: true });
  });

  it('rejects other schemes, credentials and non-URLs', () => {
    for (const url of ['ssh://example.com/r.git', 'git://example.com/r', 'file:///srv/r', 'ext::sh -c id', '/srv/repo', '--upload-pack=x']) {
      assert.match(problem(() => validateSpec(spec({ repositoryUrl: url }), policy)), /spec\.repository_url/, url);
    }
    assert.match(problem(() => validateSpec(spec({ repositoryUrl: 'https://token@example.com/r.git' }), policy)), /credentials/);
  });

  it('rejects a query, a fragment and a URL without //', () => {
    for (const url of ['https://example.com/r.git?token=abc', 'https://example.com/r.git#main', 'https://example.com/r.git?']) {
      assert.match(problem(() => validateSpec(spec({ repositoryUrl: url }), policy)), /^spec\.repository_url: must not contain a query/, url);
    }
    assert.equal(
      problem(() => validateSpec(spec({ repositoryUrl: 'https:example.com/r.git' }), policy)),
      'spec.repository_url: "https:example.com/r.git" lacks the // after the scheme; use https://host/path/repo.git',
    );
    validateSpec(spec({ repositoryUrl: 'HTTPS://example.com/r.git' }), policy);
  });

  it('enforces sizes', () => {
    assert.match(problem(() => validateSpec(spec({ input: Buffer.alloc(1024 * 1024 + 1) }), policy)), /spec\.input/);
    assert.match(problem(() => validateSpec(spec({ command: Array(65).fill('x') }), policy)), /spec\.command: has 65/);
    assert.match(problem(() => validateSpec(spec({ env: { A: 'x'.repeat(70_000) } }), policy)), /spec\.env: names and values/);
    assert.match(problem(() => validateSpec(spec({ repositoryUrl: `https://example.com/${'a'.repeat(2100)}` }), policy)), /2048/);
  });

  it('rejects a timeout above the maximum', () => {
    assert.match(problem(() => validateSpec(spec({ timeoutSeconds: 3601 }), policy)), /timeout_seconds: is 3601; use 1 to 3600/);
  });

  it('names sizes above a limit in binary units', () => {
    const tooMuch = 2048 * 1024 ** 3;
    assert.equal(
      problem(() => validateSpec(spec({ limits: { memoryBytes: tooMuch, pids: 0, cpuPercent: 0, fileSizeBytes: 0, openFiles: 0, diskBytes: 0 } }), policy)),
      `spec.limits.memory_bytes: is ${tooMuch} (2 TiB); a job may request at most ${16 * 1024 ** 3} (16 GiB), which a worker may lower to its own maximum, or 0 for the default`,
    );
    assert.match(
      problem(() => validateSpec(spec({ limits: { memoryBytes: 0, pids: 100_000, cpuPercent: 0, fileSizeBytes: 0, openFiles: 0, diskBytes: 0 } }), policy)),
      /^spec\.limits\.pids: is 100000; a job may request at most \d+, which a worker may lower to its own maximum, or 0 for the default$/,
    );
    // A cgroup cannot be made with less memory, so the job could never start.
    assert.equal(
      problem(() => validateSpec(spec({ limits: { memoryBytes: 100, pids: 0, cpuPercent: 0, fileSizeBytes: 0, openFiles: 0, diskBytes: 0 } }), policy)),
      'spec.limits.memory_bytes: is 100 (100 B); the minimum is 1048576 (1 MiB), or 0 for the default',
    );
  });

  it('keeps limits at what a sandbox can run with', () => {
    const limits = { memoryBytes: 0, pids: 0, cpuPercent: 0, fileSizeBytes: 0, openFiles: 0, diskBytes: 0 };
    assert.equal(problem(() => validateSpec(spec({ limits: { ...limits, pids: 7 } }), policy)), 'spec.limits.pids: is 7; the minimum is 8, or 0 for the default');
    assert.equal(problem(() => validateSpec(spec({ limits: { ...limits, openFiles: 3 } }), policy)), 'spec.limits.open_files: is 3; the minimum is 16, or 0 for the default');
    assert.equal(
      problem(() => validateSpec(spec({ limits: { ...limits, diskBytes: 1 } }), policy)),
      'spec.limits.disk_bytes: is 1 (1 B); the minimum is 1048576 (1 MiB), or 0 for the default',
    );
    validateSpec(spec({ limits: { ...limits, pids: 8, openFiles: 16, diskBytes: 1024 * 1024, fileSizeBytes: 1 } }), policy);
  });

  it('rejects an empty program name', () => {
    assert.match(problem(() => validateSpec(spec({ command: [''] }), policy)), /spec\.command\[0\]/);
  });
});

describe('validateRef', () => {
  it('accepts branches, tags and commits', () => {
    for (const ref of ['', 'main', 'feature/x-1', 'v1.2.3', 'a'.repeat(40).replace(/a/g, 'f')]) validateRef(ref);
  });

  it('rejects what git check-ref-format rejects', () => {
    for (const ref of ['-x', 'a..b', 'a b', 'a~1', 'a^', 'a:b', 'a?', 'a*', 'a[', 'a\\b', '/a', 'a/', 'a//b', 'a.', '.a', 'a/.b', 'a.lock', '@', 'a@{1}']) {
      assert.match(problem(() => validateRef(ref)), /spec\.ref/, ref);
    }
  });
});

describe('validateCancelReason', () => {
  it('counts characters, not UTF-16 units', () => {
    validateCancelReason('\u{1F600}'.repeat(256));
    assert.equal(problem(() => validateCancelReason('r'.repeat(257))), 'reason: has 257 characters; the limit is 256');
  });
});

describe('validateStateFilter', () => {
  it('accepts every state and none', () => {
    for (const state of [0, JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_CANCELLED]) validateStateFilter(state);
  });

  it('rejects values outside the enum, negative ones included', () => {
    for (const state of [-1, 7, 99]) assert.match(problem(() => validateStateFilter(state)), new RegExp(`^state: ${state} is not a job state; use one of JOB_STATE_QUEUED, `), String(state));
  });
});

describe('validateJobId', () => {
  it('accepts a new id', () => {
    validateJobId(newJobId());
  });

  it('rejects malformed ids with the field name', () => {
    for (const id of ['', 'x', newJobId().toUpperCase(), `${newJobId()}a`, '01m91b01wz8s5a18m05n5v22t.', '01m91b01wz8s5a18m05n5v22tu']) {
      assert.match(problem(() => validateJobId(id)), /^job_id/, id);
    }
  });
});
