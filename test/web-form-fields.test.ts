import assert from 'node:assert/strict';
import { signalOfExitCode } from '../web/src/signals.js';
import { fieldErrorText, formFieldOf, parseEnvironment, parseWholeNumber, repositoryUrlProblem, splitCommandLine } from '../web/src/form-fields.js';

// The submit form of the web page turns typed text into JobSpec fields with these parsers.

describe('web form fields', () => {
  describe('splitCommandLine', () => {
    const cases: Array<[string, string[]]> = [
      ['', []],
      ['   ', []],
      ['python3 report.py --since 7d', ['python3', 'report.py', '--since', '7d']],
      ['  spaced   out  ', ['spaced', 'out']],
      [`bash -c "echo 'hi'; sleep 1"`, ['bash', '-c', "echo 'hi'; sleep 1"]],
      [`echo 'a "quoted" word'`, ['echo', 'a "quoted" word']],
      ['echo "say \\"hi\\"" back\\ slash', ['echo', 'say "hi"', 'back slash']],
      [`empty '' ""`, ['empty', '', '']],
      ['joined"half"\'s\'', ['joinedhalfs']],
      ['keep \\$HOME literal', ['keep', '$HOME', 'literal']],
    ];
    for (const [line, words] of cases) {
      it(`splits ${JSON.stringify(line)}`, () => {
        assert.deepEqual(splitCommandLine(line), { words });
      });
    }

    it('reports an unclosed quote', () => {
      assert.deepEqual(splitCommandLine(`echo "open`), { error: 'The double quote is not closed' });
      assert.deepEqual(splitCommandLine(`echo 'open`), { error: 'The single quote is not closed' });
    });
  });

  describe('parseEnvironment', () => {
    it('reads KEY=VALUE lines and skips blanks and comments', () => {
      const parsed = parseEnvironment('MODE=fast\n\n# a comment\r\nURL=https://x.example/?a=b\nEMPTY=\n');
      assert.deepEqual(parsed, { env: { MODE: 'fast', URL: 'https://x.example/?a=b', EMPTY: '' } });
    });

    it('names the line without a separator', () => {
      assert.deepEqual(parseEnvironment('A=1\nnot a pair'), { error: 'Line 2: expected KEY=VALUE, got "not a pair"' });
      assert.deepEqual(parseEnvironment('=value'), { error: 'Line 1: expected KEY=VALUE, got "=value"' });
    });

    it('rejects a name set twice', () => {
      assert.deepEqual(parseEnvironment('A=1\nA=2'), { error: 'Line 2: A is set twice' });
    });

    it('rejects a name that is not a variable name', () => {
      assert.deepEqual(parseEnvironment('A=1\n1BAD=x'), { error: 'Line 2: "1BAD" is not a variable name; use letters, digits and _, not starting with a digit' });
      assert.deepEqual(parseEnvironment('MY-VAR=x'), { error: 'Line 1: "MY-VAR" is not a variable name; use letters, digits and _, not starting with a digit' });
    });
  });

  describe('signalOfExitCode', () => {
    it('names the signal of 128 + N', () => {
      assert.equal(signalOfExitCode(137), 'SIGKILL');
      assert.equal(signalOfExitCode(143), 'SIGTERM');
      assert.equal(signalOfExitCode(139), 'SIGSEGV');
    });

    it('names nothing for other codes', () => {
      for (const code of [undefined, 0, 1, 127, 128, 130 + 100]) assert.equal(signalOfExitCode(code), undefined, String(code));
    });
  });

  describe('repositoryUrlProblem', () => {
    it('accepts http and https URLs', () => {
      for (const url of ['https://git.example.com/r.git', ' http://127.0.0.1:8080/r.git ', 'HTTPS://git.example.com/r']) assert.equal(repositoryUrlProblem(url), undefined, url);
    });

    it('names an empty URL and other schemes', () => {
      assert.match(repositoryUrlProblem('  ')!, /^Enter the repository URL/);
      for (const url of ['ftp://x', 'git@example.com:r.git', 'https:/x', 'example.com/r.git']) assert.match(repositoryUrlProblem(url)!, /^Use an https:\/\/ URL/, url);
    });
  });

  describe('parseWholeNumber', () => {
    it('reads empty text as 0, the default', () => {
      assert.equal(parseWholeNumber(''), 0);
      assert.equal(parseWholeNumber('  '), 0);
    });

    it('reads whole numbers', () => {
      assert.equal(parseWholeNumber('300'), 300);
      assert.equal(parseWholeNumber(' 42 '), 42);
    });

    it('rejects other text', () => {
      for (const text of ['-1', '1.5', '1e3', 'ten', '1234567890']) assert.equal(parseWholeNumber(text), undefined, text);
    });
  });

  describe('formFieldOf', () => {
    it('maps the gateway field names to form fields', () => {
      assert.equal(formFieldOf('spec.repository_url: is required'), 'repositoryUrl');
      assert.equal(formFieldOf('spec.ref: "a..b" is not a valid branch'), 'ref');
      assert.equal(formFieldOf('spec.command[0]: must name a program'), 'command');
      assert.equal(formFieldOf('spec.env["1X"]: name must match'), 'env');
      assert.equal(formFieldOf('spec.timeout_seconds: is 9999'), 'timeoutSeconds');
      assert.equal(formFieldOf('spec.limits.memory_bytes: is 1; the maximum is 2'), 'memoryMiB');
    });

    it('reads a message without the field path', () => {
      assert.equal(fieldErrorText('spec.repository_url: scheme "ftp" is not supported; use https'), 'Scheme "ftp" is not supported; use https');
      assert.equal(
        fieldErrorText('spec.limits.memory_bytes: is 1048574951424 (976.6 GiB); the maximum is 17179869184 (16 GiB), or 0 for the default'),
        'The value is 976.6 GiB; the maximum is 16 GiB, or 0 for the default',
      );
      assert.equal(fieldErrorText('spec.env["1BAD"]: name must be letters'), '1BAD: name must be letters');
      assert.equal(fieldErrorText('spec.args[2]: must not contain NUL bytes'), 'Line 3: must not contain NUL bytes');
      assert.equal(fieldErrorText('spec.command[0]: must name a program'), 'Word 1: must name a program');
      assert.equal(fieldErrorText('too many active jobs'), 'too many active jobs');
    });

    it('leaves other messages to the form', () => {
      assert.equal(formFieldOf('spec.retry.max_attempts: is 99'), undefined);
      assert.equal(formFieldOf('spec.references: unknown'), undefined);
      assert.equal(formFieldOf('too many active jobs'), undefined);
    });
  });
});
