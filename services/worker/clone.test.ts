import assert from 'node:assert/strict';
import { GitError } from 'simple-git';
import { classifyGitError } from './clone.js';

describe('classifyGitError', () => {
  const url = 'http://127.0.0.1:1/r.git';
  const cases: Array<[string, string, RegExp]> = [
    ["fatal: couldn't find remote ref nope", 'ref-not-found', /ref "nope" was not found/],
    ['fatal: Authentication failed for ...', 'authentication-required', /requires authentication/],
    ["fatal: could not read Username for 'https://host': terminal prompts disabled", 'authentication-required', /requires authentication/],
    ['fatal: repository \'http://127.0.0.1:1/r.git/\' not found', 'repository-not-found', /was not found/],
    ['fatal: unable to access: Failed to connect to 127.0.0.1 port 1', 'network', /could not fetch .*Failed to connect/],
  ];
  for (const [output, failure, message] of cases) {
    it(`classifies ${failure}: ${output.slice(0, 30)}`, () => {
      const error = classifyGitError(new GitError(undefined, output), url, 'nope');
      assert.equal(error.failure, failure);
      assert.match(error.message, message);
    });
  }
});
