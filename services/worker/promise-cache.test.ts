import assert from 'node:assert/strict';
import { cachedUntilRejected } from './promise-cache.js';

describe('cachedUntilRejected', () => {
  it('makes each key once', async () => {
    const cache = new Map<string, Promise<number>>();
    let calls = 0;
    const make = async () => ++calls;
    assert.equal(await cachedUntilRejected(cache, 'a', make), 1);
    assert.equal(await cachedUntilRejected(cache, 'a', make), 1);
    assert.equal(await cachedUntilRejected(cache, 'b', make), 2);
  });

  it('tries again after a rejection', async () => {
    const cache = new Map<string, Promise<string>>();
    await assert.rejects(cachedUntilRejected(cache, 'a', async () => Promise.reject(new Error('first failed'))), /first failed/);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(cache.has('a'), false);
    assert.equal(await cachedUntilRejected(cache, 'a', async () => 'second'), 'second');
  });
});
