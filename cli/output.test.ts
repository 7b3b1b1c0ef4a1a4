import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Job, JobPhase, JobState } from '../gen/faas/v1/job.js';
import { describeProgress, formatArgv, formatJobDetails } from './output.js';

describe('formatArgv', () => {
  it('writes arguments that a shell reads back unchanged', () => {
    const argv = ['python3', 'main.py', 'x y', 'a"b', '$HOME', "it's", '', '--z=1', '*'];
    const line = formatArgv(argv);
    assert.equal(line, `python3 main.py 'x y' 'a"b' '$HOME' 'it'\\''s' '' --z=1 '*'`);
    // The shell splits the line back into the same words, with nothing expanded.
    const echoed = spawnSync('sh', ['-c', `for word in ${line}; do printf '%s\\n' "[$word]"; done`], { encoding: 'utf8' });
    assert.equal(echoed.stdout, argv.map((word) => `[${word}]\n`).join(''));
  });
});

describe('describeProgress', () => {
  it('names a running job\'s phase unless it repeats the state', () => {
    const job = (phase: JobPhase) => Job.fromPartial({ id: 'j1', state: JobState.JOB_STATE_RUNNING, phase, attempt: 1 });
    assert.equal(describeProgress(job(JobPhase.JOB_PHASE_CLONING)), 'job j1: running, cloning, attempt 1');
    assert.equal(describeProgress(job(JobPhase.JOB_PHASE_RUNNING)), 'job j1: running, attempt 1');
  });
});

describe('formatJobDetails', () => {
  it('says how many attempts the platform cut short', () => {
    const job = Job.fromPartial({ id: 'j1', state: JobState.JOB_STATE_SUCCEEDED, attempt: 2, interruptedAttempts: 1 });
    assert.match(formatJobDetails(job), /^attempt: +2 \(1 cut short by the platform, not counted\)$/m);
    assert.match(formatJobDetails({ ...job, interruptedAttempts: 0 }), /^attempt: +2$/m);
  });

  it('shows requested and applied limits', () => {
    const GiB = 1024 ** 3;
    const job = Job.fromPartial({
      id: 'j1',
      state: JobState.JOB_STATE_RUNNING,
      spec: { repositoryUrl: 'https://example.com/r.git', limits: { memoryBytes: 8 * GiB } },
      appliedLimits: { memoryBytes: 4 * GiB, cpuPercent: 100, pids: 256, openFiles: 1024, fileSizeBytes: GiB, diskBytes: GiB },
    });
    const details = formatJobDetails(job);
    assert.match(details, /^limits: +memory 8 GiB \(requested; a worker may lower them\)$/m);
    assert.match(details, /^applied limits: +memory 4 GiB, cpu 100%, pids 256, open files 1024, file size 1 GiB, disk 1 GiB$/m);
    assert.doesNotMatch(formatJobDetails({ ...job, appliedLimits: undefined }), /applied limits/);
  });

  it('shows the wait in the queue and the run time', () => {
    const job = Job.fromPartial({
      id: 'j1',
      state: JobState.JOB_STATE_SUCCEEDED,
      attempt: 1,
      createdAt: new Date('2026-12-06T10:00:00.000Z'),
      startedAt: new Date('2026-12-06T10:00:00.250Z'),
      finishedAt: new Date('2026-12-06T10:00:04.450Z'),
    });
    const details = formatJobDetails(job);
    assert.match(details, /^queued for: +250 ms$/m);
    assert.match(details, /^ran for: +4\.2 s$/m);
    const retried = formatJobDetails({ ...job, attempt: 2 });
    assert.doesNotMatch(retried, /queued for/);
    assert.match(retried, /^ran for: +4\.2 s \(attempt 2\)$/m);
    assert.doesNotMatch(formatJobDetails({ ...job, finishedAt: undefined }), /ran for/);
  });
});
