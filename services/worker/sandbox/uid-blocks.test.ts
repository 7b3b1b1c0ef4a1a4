import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { claimUidBlock, uidsPerBlock } from './uid-blocks.js';

describe('claimUidBlock', function () {
  this.timeout(30_000);
  let lockDir: string;

  beforeEach(async () => {
    lockDir = await mkdtemp(join(tmpdir(), 'faas-uid-blocks-'));
  });
  afterEach(async () => {
    await rm(lockDir, { recursive: true, force: true });
  });

  it('gives each claim its own block', async () => {
    const first = await claimUidBlock(lockDir, 61000, 4);
    const second = await claimUidBlock(lockDir, 61000, 4);
    try {
      assert.equal(first.base, 61000);
      assert.equal(second.base, 61000 + uidsPerBlock);
    } finally {
      first.release();
      second.release();
    }
  });

  it('frees a block on release', async () => {
    const first = await claimUidBlock(lockDir, 61000, 2);
    first.release();
    await waitForRelease(async () => (await claimUidBlock(lockDir, 61000, 2)));
  });

  it('frees the block of a worker that was killed', async () => {
    const moduleUrl = new URL('./uid-blocks.ts', import.meta.url).href;
    const script = [
      `const { claimUidBlock } = await import(${JSON.stringify(moduleUrl)});`,
      `const block = await claimUidBlock(${JSON.stringify(lockDir)}, 61000, 2);`,
      'console.log(block.base);',
      'setInterval(() => undefined, 1000);',
    ].join('\n');
    const worker = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const guard = setTimeout(() => worker.kill('SIGKILL'), 20_000);
    try {
      const [line] = (await once(createInterface({ input: worker.stdout! }), 'line')) as [string];
      assert.equal(line, '61000');
      const whileAlive = await claimUidBlock(lockDir, 61000, 2);
      assert.equal(whileAlive.base, 61000 + uidsPerBlock);
      whileAlive.release();

      worker.kill('SIGKILL');
      await once(worker, 'exit');
      await waitForRelease(() => claimUidBlock(lockDir, 61000, 2));
    } finally {
      clearTimeout(guard);
      worker.kill('SIGKILL');
    }
  });

  it('fails when no block fits below the highest uid', async () => {
    const only = await claimUidBlock(lockDir, 65533 - 3, 4);
    try {
      await assert.rejects(claimUidBlock(lockDir, 65533 - 3, 4), /every block of sandbox uids from 65530 to 65533 is held/);
    } finally {
      only.release();
    }
  });
});

/** Claims until block 0 is free again, since the kernel drops a lock only once its holder has exited. */
async function waitForRelease(claim: () => Promise<{ base: number; release(): void }>): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const block = await claim();
    block.release();
    if (block.base === 61000) return;
    if (Date.now() > deadline) assert.fail(`block 0 was still held after 5 s; got base ${block.base}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
