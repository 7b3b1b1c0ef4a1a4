import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/logger.js';
import { CacheIndex, diskTouchIntervalMs } from './repo-cache-index.js';
import { CacheLayout } from './repo-cache-store.js';

describe('CacheIndex.touch', () => {
  let root: string;
  let treePath: string;
  const longAgo = new Date('2026-01-01T00:00:00Z');

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-cache-index-'));
    treePath = join(root, 'trees', 'repo-abc');
    await mkdir(treePath, { recursive: true });
    await utimes(treePath, longAgo, longAgo);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function indexWithTree(lastUsedMs: number): CacheIndex {
    return new CacheIndex(new CacheLayout(root), Number.MAX_SAFE_INTEGER, createLogger('test', 'silent'), [
      { kind: 'tree', path: treePath, key: 'repo', sha: 'abc', bytes: 1, lastUsedMs },
    ]);
  }

  it('writes the time of use to disk at most once per interval', async () => {
    const index = indexWithTree(longAgo.getTime());
    const entry = index.trees.get('repo-abc')!;

    index.touch(entry);
    await index.idle();
    const written = (await stat(treePath)).mtimeMs;
    assert.ok(written > longAgo.getTime(), 'the first use after a long pause reaches the disk');
    assert.equal(entry.diskUsedMs, entry.lastUsedMs);

    // A use within the interval changes only the time in memory.
    await utimes(treePath, longAgo, longAgo);
    entry.lastUsedMs = 0;
    index.touch(entry);
    await index.idle();
    assert.ok(entry.lastUsedMs >= written, 'the time in memory follows every use');
    assert.equal((await stat(treePath)).mtimeMs, longAgo.getTime());

    // Once the time on disk is an interval old, the next use writes it again.
    entry.diskUsedMs -= diskTouchIntervalMs;
    index.touch(entry);
    await index.idle();
    assert.ok((await stat(treePath)).mtimeMs > longAgo.getTime());
  });

  it('saves the times of use that only memory has', async () => {
    const index = indexWithTree(longAgo.getTime());
    const entry = index.trees.get('repo-abc')!;
    entry.diskUsedMs = Date.now() - 1_000;
    index.touch(entry);
    await index.idle();
    assert.equal((await stat(treePath)).mtimeMs, longAgo.getTime());

    index.saveUseTimes();
    await index.idle();
    // The file system keeps the time in its own precision.
    assert.ok(Math.abs((await stat(treePath)).mtimeMs - entry.lastUsedMs) < 1);
  });
});
