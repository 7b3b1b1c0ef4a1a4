import assert from 'node:assert/strict';
import { JobState } from '../gen/faas/v1/job.js';
import { parseCommandLine, splitAtDoubleDash, UsageError, type Invocation } from './args.js';

function parse(argv: string[]): Invocation {
  return parseCommandLine(argv);
}

function assertUsageError(argv: string[], pattern: RegExp): UsageError {
  let caught: unknown;
  try {
    parse(argv);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UsageError, `expected UsageError for ${JSON.stringify(argv)}, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  return caught;
}

describe('splitAtDoubleDash', () => {
  it('splits at the first --', () => {
    assert.deepEqual(splitAtDoubleDash(['a', '--', 'b', '--', 'c']), { before: ['a'], after: ['b', '--', 'c'] });
  });

  it('leaves after unset without --', () => {
    assert.deepEqual(splitAtDoubleDash(['a', 'b']), { before: ['a', 'b'], after: undefined });
  });
});

describe('parseCommandLine', () => {
  describe('submit', () => {
    it('collects repeated --env', () => {
      const invocation = parse(['submit', 'https://example.com/r.git', '--env', 'A=1', '--env=B=x=y', '--env', 'C=']);

      assert.equal(invocation.name, 'submit');
      assert.deepEqual(invocation.name === 'submit' && invocation.env, { A: '1', B: 'x=y', C: '' });
    });

    it('lets a later --env value win', () => {
      const invocation = parse(['submit', 'https://example.com/r.git', '--env', 'A=1', '--env', 'A=2']);

      assert.deepEqual(invocation.name === 'submit' && invocation.env, { A: '2' });
    });

    it('takes the job command after --', () => {
      const invocation = parse([
        'submit',
        'https://example.com/r.git',
        '--wait',
        '--',
        'python3',
        'main.py',
        '--env',
        'X=1',
        '--',
        '-v',
      ]);

      assert.equal(invocation.name, 'submit');
      if (invocation.name !== 'submit') return;
      assert.deepEqual(invocation.command, ['python3', 'main.py', '--env', 'X=1', '--', '-v']);
      assert.deepEqual(invocation.env, {});
      assert.equal(invocation.wait, true);
    });

    it('reads every option', () => {
      const invocation = parse([
        '--server',
        'localhost:6000',
        'submit',
        '--ref',
        'v1.2',
        'https://example.com/r.git',
        '--timeout',
        '90',
        '--input',
        '-',
        '--idempotency-key',
        'build-7',
        '--network',
        '--memory',
        '256MiB',
        '--cpu',
        '50',
        '--pids',
        '64',
        '--open-files',
        '256',
        '--file-size',
        '1GiB',
        '--disk',
        '2GiB',
        '--max-attempts',
        '4',
        '--retry-failed',
        '--json',
      ]);

      assert.deepEqual(invocation, {
        name: 'submit',
        server: 'localhost:6000',
        repositoryUrl: 'https://example.com/r.git',
        ref: 'v1.2',
        env: {},
        timeoutSeconds: 90,
        input: '-',
        idempotencyKey: 'build-7',
        network: true,
        limits: {
          memoryBytes: 256 * 1024 * 1024,
          cpuPercent: 50,
          pids: 64,
          openFiles: 256,
          fileSizeBytes: 1024 ** 3,
          diskBytes: 2 * 1024 ** 3,
        },
        retry: { maxAttempts: 4, retryFailedRuns: true },
        wait: false,
        json: true,
        command: [],
        args: [],
      });
    });

    it('collects --arg values apart from the command', () => {
      const convention = parse(['submit', 'https://example.com/r.git', '--arg', 'x y', '--arg=--z']);
      assert.deepEqual(convention.name === 'submit' && [convention.command, convention.args], [[], ['x y', '--z']]);
      const both = parse(['submit', 'https://example.com/r.git', '--arg', 'last', '--', 'python3', 'tool.py', 'first']);
      assert.deepEqual(both.name === 'submit' && [both.command, both.args], [['python3', 'tool.py', 'first'], ['last']]);
    });

    it('rejects a --memory that is not a size', () => {
      assert.throws(() => parse(['submit', 'https://example.com/r.git', '--memory', 'lots']), /--memory: expected a size such as 256MiB/);
      assertUsageError(['submit', 'https://example.com/r.git', '--memory', '5PiB'], /^--memory: unknown unit "PiB" in "5PiB"; use B, KiB, MiB, GiB, TiB \(or KB, MB, GB, TB\)$/);
    });

    it('reads --memory 0 as the default', () => {
      const invocation = parse(['submit', 'https://example.com/r.git', '--memory', '0']);
      assert.deepEqual(invocation.name === 'submit' && invocation.limits, { memoryBytes: 0 });
    });

    it('sends only the limits and retry policy given', () => {
      const plain = parse(['submit', 'https://example.com/r.git']);
      assert.deepEqual(plain.name === 'submit' && [plain.limits, plain.retry], [{}, undefined]);
      const retried = parse(['submit', 'https://example.com/r.git', '--retry-failed']);
      assert.deepEqual(retried.name === 'submit' && retried.retry, { maxAttempts: 0, retryFailedRuns: true });
    });

    it('rejects counts and sizes that are not numbers', () => {
      for (const option of ['cpu', 'pids', 'open-files', 'max-attempts']) {
        for (const value of ['half', '1.5', '-1', '4294967296']) {
          assertUsageError(['submit', 'https://example.com/r.git', `--${option}=${value}`], new RegExp(`^--${option}: expected a whole number from 0 up, with 0 for the default, got "${value.replace('.', '\\.')}"$`));
        }
      }
      assertUsageError(['submit', 'https://example.com/r.git', '--disk', 'big'], /^--disk: expected a size such as 256MiB or 1GiB, or 0 for the default, got "big"$/);
      assertUsageError(['submit', 'https://example.com/r.git', '--file-size', '3XB'], /^--file-size: unknown unit "XB" in "3XB"/);
    });

    it('rejects --env without =', () => {
      const error = assertUsageError(['submit', 'https://example.com/r.git', '--env', 'FOO'], /^--env: expected KEY=VALUE, got "FOO"$/);
      assert.equal(error.command, 'submit');
    });

    it('rejects an invalid --env name', () => {
      assertUsageError(['submit', 'https://example.com/r.git', '--env', '1X=a'], /^--env: invalid variable name "1X"/);
      assertUsageError(['submit', 'https://example.com/r.git', '--env', '=a'], /^--env: invalid variable name ""/);
    });

    it('rejects a --timeout that is not a number', () => {
      for (const value of ['ten', '1.5', '-5', '10s', '', '4294967296']) {
        assertUsageError(['submit', 'https://example.com/r.git', `--timeout=${value}`], /^--timeout: expected a whole number of seconds up to the operator's limit \(3600 unless changed\), or 0 for the default, got "/);
      }
    });

    it('takes a negative number as the value it rejects', () => {
      assertUsageError(['submit', 'https://example.com/r.git', '--timeout', '-5'], /^--timeout: expected a whole number of seconds .*, got "-5"$/);
      assertUsageError(['list', '--limit', '-1'], /^--limit: expected a whole number from 1 up, got "-1"$/);
    });

    it('takes --timeout 0 as the default', () => {
      const invocation = parse(['submit', 'https://example.com/r.git', '--timeout', '0']);
      assert.equal(invocation.name === 'submit' && invocation.timeoutSeconds, 0);
    });

    it('rejects an option as the value of --ref', () => {
      assertUsageError(['submit', 'https://example.com/r.git', '--ref', '--wait'], /^--ref requires a value/);
    });

    it('rejects a missing repository URL', () => {
      assertUsageError(['submit', '--wait'], /^missing repository URL$/);
    });

    it('points extra arguments to --', () => {
      assertUsageError(['submit', 'https://example.com/r.git', 'python3'], /\. Put the job's command after --, as in: faas submit URL -- python3$/);
    });
  });

  describe('other commands', () => {
    it('parses status with --json', () => {
      assert.deepEqual(parse(['status', 'abc', '--json']), { name: 'status', server: undefined, jobId: 'abc', json: true });
    });

    it('parses logs with -f', () => {
      assert.deepEqual(parse(['logs', '-f', 'abc']), { name: 'logs', server: undefined, jobId: 'abc', follow: true });
    });

    it('parses list --state, --limit and --page-token', () => {
      assert.deepEqual(parse(['list', '--state', 'timed_out', '--limit', '5', '--page-token', '01m91b01wz8s5a18m05n5v22tt']), {
        name: 'list',
        server: undefined,
        state: JobState.JOB_STATE_TIMED_OUT,
        limit: 5,
        pageToken: '01m91b01wz8s5a18m05n5v22tt',
        json: false,
      });
    });

    it('rejects a --page-token that no list printed', () => {
      assertUsageError(['list', '--page-token', 'next'], /^--page-token: "next" is not a page token; pass the one that "faas list --limit" printed$/);
    });

    it('parses cancel --reason', () => {
      const invocation = parse(['cancel', 'abc', '--reason', 'wrong ref']);
      assert.equal(invocation.name === 'cancel' && invocation.reason, 'wrong ref');
    });

    it('rejects an unknown --state', () => {
      assertUsageError(['list', '--state', 'done'], /^--state: unknown state "done"/);
    });

    it('rejects a --limit of 0', () => {
      assertUsageError(['list', '--limit', '0'], /^--limit: expected a whole number from 1 up/);
    });

    it('rejects a missing job id', () => {
      assertUsageError(['status'], /^missing job id$/);
    });

    it('rejects arguments after -- outside submit', () => {
      assertUsageError(['logs', 'abc', '--', 'x'], /^faas logs takes no arguments after --$/);
    });

    it('rejects an option of another command', () => {
      const error = assertUsageError(['status', 'abc', '--follow'], /^unknown option --follow$/);
      assert.equal(error.command, 'status');
    });

    it('rejects a value on a boolean option', () => {
      assertUsageError(['status', 'abc', '--json=yes'], /^--json takes no value$/);
    });

    it('rejects an invalid --server', () => {
      assertUsageError(['status', 'abc', '--server', 'no-port'], /^--server: "no-port" is not HOST:PORT, such as 127.0.0.1:50051$/);
    });
  });

  describe('commands and help', () => {
    it('rejects an unknown command', () => {
      const error = assertUsageError(['deploy', 'x'], /^unknown command "deploy"$/);
      assert.equal(error.command, undefined);
    });

    it('rejects a missing command', () => {
      assert.deepEqual(parse([]), { name: 'help', missingCommand: true });
      assertUsageError(['--server', 'localhost:1'], /^missing command$/);
    });

    it('reads --version', () => {
      assert.deepEqual(parse(['--version']), { name: 'version' });
    });

    it('reads help in every form', () => {
      assert.deepEqual(parse(['--help']), { name: 'help' });
      assert.deepEqual(parse(['help']), { name: 'help' });
      assert.deepEqual(parse(['help', 'submit']), { name: 'help', topic: 'submit' });
      assert.deepEqual(parse(['submit', '--help']), { name: 'help', topic: 'submit' });
      assert.deepEqual(parse(['list', '-h']), { name: 'help', topic: 'list' });
    });

    it('shows help without checking other arguments', () => {
      assert.deepEqual(parse(['submit', '--env', 'BAD', '--help']), { name: 'help', topic: 'submit' });
    });

    it('rejects help for an unknown command', () => {
      assertUsageError(['help', 'deploy'], /^unknown command "deploy"$/);
    });
  });
});
