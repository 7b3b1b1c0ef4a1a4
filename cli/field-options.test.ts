import assert from 'node:assert/strict';
import { withOptionName, withOptionNames } from './field-options.js';

describe('withOptionName', () => {
  it('names the CLI option of a field', () => {
    assert.equal(withOptionName('spec.limits.pids: is 2; the minimum is 8, or 0 for the default'), '--pids: is 2; the minimum is 8, or 0 for the default');
    assert.equal(withOptionName('spec.retry.max_attempts: is 50; this platform allows 1 to 10'), '--max-attempts: is 50; this platform allows 1 to 10');
    assert.equal(withOptionName('spec.repository_url: scheme "ftp" is not supported; use https'), 'REPOSITORY_URL: scheme "ftp" is not supported; use https');
  });

  it('keeps the key or position of an entry', () => {
    assert.equal(withOptionName('spec.env["1X"]: name must be letters'), '--env 1X: name must be letters');
    assert.equal(withOptionName('spec.command[0]: must name a program'), 'COMMAND word 1: must name a program');
  });

  it('leaves other messages alone', () => {
    assert.equal(withOptionName('spec.args[3]: must not contain NUL bytes'), 'spec.args[3]: must not contain NUL bytes');
    assert.equal(withOptionName('request: has a 64-bit integer above 9007199254740991'), 'request: has a 64-bit integer above 9007199254740991');
    assert.equal(withOptionName('job 01abc was not found'), 'job 01abc was not found');
  });
});

describe('withOptionNames', () => {
  it('names the CLI option of each field in a text', () => {
    assert.equal(
      withOptionNames('ran out of its memory limit of 64 MiB and was killed; raise spec.limits.memory_bytes to give it more'),
      'ran out of its memory limit of 64 MiB and was killed; raise --memory to give it more',
    );
    assert.equal(withOptionNames('timed out after 3 s; raise spec.timeout_seconds to give it more time'), 'timed out after 3 s; raise --timeout to give it more time');
  });

  it('leaves fields without an option and other words alone', () => {
    assert.equal(withOptionNames('spec.repository_url and spec.limits.unknown_field stay'), 'spec.repository_url and spec.limits.unknown_field stay');
    assert.equal(withOptionNames('inspect.limits.pids is not a field'), 'inspect.limits.pids is not a field');
  });
});
