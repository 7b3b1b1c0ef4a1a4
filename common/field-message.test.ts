import assert from 'node:assert/strict';
import { splitFieldMessage } from './field-message.js';

describe('splitFieldMessage', () => {
  it('splits a path, a key or an index', () => {
    assert.deepEqual(splitFieldMessage('spec.limits.pids: is 2'), { path: 'spec.limits.pids', text: 'is 2' });
    assert.deepEqual(splitFieldMessage('spec.env["1X"]: name must be letters'), { path: 'spec.env', key: '1X', text: 'name must be letters' });
    assert.deepEqual(splitFieldMessage('spec.args[2]: must not contain NUL bytes'), { path: 'spec.args', index: 2, text: 'must not contain NUL bytes' });
  });

  it('returns nothing without a field path', () => {
    assert.equal(splitFieldMessage('job 01abc not found'), undefined);
    assert.equal(splitFieldMessage('too many active jobs'), undefined);
  });
});
