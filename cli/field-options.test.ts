import assert from 'node:assert/strict';
import { withOptionName } from './field-options.js';

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
