import assert from 'node:assert/strict';
import { isJobId, newJobId } from './ids.js';

describe('newJobId', () => {
  it('makes valid, distinct ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newJobId()));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.ok(isJobId(id), id);
  });

  it('sorts by creation time', () => {
    const earlier = newJobId(1_700_000_000_000);
    const later = newJobId(1_700_000_000_001);
    assert.ok(earlier < later);
    assert.ok(newJobId(1_000) < newJobId(2 ** 40));
  });

  it('drops fractions of a millisecond', () => {
    const id = newJobId(1_700_000_000_000.6);
    assert.ok(isJobId(id), id);
    assert.equal(id.slice(0, 10), newJobId(1_700_000_000_000).slice(0, 10));
  });
});
