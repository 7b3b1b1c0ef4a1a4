import assert from 'node:assert/strict';
import { link, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureDiskUsage, watchDiskUsage, type DiskUsage } from './disk.js';

describe('disk usage', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faas-disk-'));
  });

  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('counts allocated blocks once per inode', async () => {
    await mkdir(join(dir, 'a', 'b'), { recursive: true });
    await writeFile(join(dir, 'a', 'b', 'data'), Buffer.alloc(1 << 20, 1));
    await link(join(dir, 'a', 'b', 'data'), join(dir, 'hard'));
    await symlink('/usr', join(dir, 'usr-link'));
    const usage = await measureDiskUsage(dir);

    assert.ok(usage.bytes >= 1 << 20, `${usage.bytes} bytes`);
    assert.ok(usage.bytes < 2 << 20, `${usage.bytes} bytes: the hard link or /usr was counted`);
    assert.equal(usage.entries, 6);
    assert.equal(usage.truncated, false);
  });

  it('stops at maxEntries', async () => {
    for (let i = 0; i < 50; i += 1) await writeFile(join(dir, `f${i}`), '');
    const usage = await measureDiskUsage(dir, 10);

    assert.equal(usage.truncated, true);
    assert.ok(usage.entries <= 10);
  });

  it('reads a large folder in batches', async () => {
    const big = join(dir, 'big');
    await mkdir(big);
    for (let i = 0; i < 3_000; i += 1) await writeFile(join(big, `file-${i}`), '');
    // Large enough to be read with a batch reader, not at once.
    assert.ok((await lstat(big)).size > 32 * 1024, `folder size ${(await lstat(big)).size}`);

    const usage = await measureDiskUsage(dir);
    assert.equal(usage.entries, 3_002);
    assert.equal(usage.truncated, false);
    const capped = await measureDiskUsage(dir, 100);
    assert.equal(capped.truncated, true);
    assert.ok(capped.entries <= 100);
  });

  it('watcher fires once over the limit', async () => {
    const calls: DiskUsage[] = [];
    const exceeded = new Promise<void>((resolve) => {
      const watcher = watchDiskUsage({
        dir,
        limitBytes: 512 * 1024,
        intervalMs: 10,
        onExceeded: (usage) => {
          calls.push(usage);
          resolve();
        },
      });
      setTimeout(() => watcher.stop(), 5_000).unref();
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await writeFile(join(dir, 'big'), Buffer.alloc(1 << 20, 1));
    await exceeded;
    await new Promise((resolve) => setTimeout(resolve, 50));

    assert.equal(calls.length, 1);
    assert.ok(calls[0].bytes > 512 * 1024);
  });

  it('watcher stays quiet under the limit', async () => {
    let fired = false;
    const watcher = watchDiskUsage({ dir, limitBytes: 1 << 20, intervalMs: 10, onExceeded: () => (fired = true) });
    await writeFile(join(dir, 'small'), 'x');
    await new Promise((resolve) => setTimeout(resolve, 100));
    watcher.stop();

    assert.equal(fired, false);
    assert.equal(watcher.lastUsage?.entries, 2);
  });

  it('check walks at once, before the first interval', async () => {
    const calls: DiskUsage[] = [];
    const watcher = watchDiskUsage({ dir, limitBytes: 512 * 1024, intervalMs: 60_000, onExceeded: (usage) => calls.push(usage) });
    await writeFile(join(dir, 'quick'), Buffer.alloc(1 << 20, 1));
    await watcher.check();
    await watcher.check();
    watcher.stop();

    assert.equal(calls.length, 1, 'once over the limit, a second check reports nothing more');
    assert.ok(calls[0].bytes > 512 * 1024);
  });

  it('rejects a bad limit', () => {
    assert.throws(() => watchDiskUsage({ dir, limitBytes: -1, onExceeded: () => undefined }), /invalid limitBytes -1/);
  });
});
