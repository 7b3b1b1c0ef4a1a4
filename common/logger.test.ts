import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LineBatcher } from './logger.js';

describe('LineBatcher', () => {
  it('writes the lines of one window in one call, in order', async () => {
    const writes: string[] = [];
    const batcher = new LineBatcher((text) => writes.push(text), 20);
    batcher.write('a\n');
    batcher.write('b\n');
    batcher.write('c\n');
    assert.deepEqual(writes, []);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.deepEqual(writes, ['a\nb\nc\n']);
  });

  it('writes at once on flush, and nothing when no line waits', async () => {
    const writes: string[] = [];
    const batcher = new LineBatcher((text) => writes.push(text), 20);
    batcher.flush();
    batcher.write('a\n');
    batcher.flush();
    assert.deepEqual(writes, ['a\n']);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.deepEqual(writes, ['a\n'], 'the window of a flushed line writes nothing more');
  });
});

describe('createLogger', () => {
  it('writes every line of a process that exits right after logging', () => {
    const logger = fileURLToPath(new URL('./logger.ts', import.meta.url));
    const script = [
      `import { createLogger } from ${JSON.stringify(logger)};`,
      "const log = createLogger('test');",
      "for (let index = 0; index < 2000; index++) log.info({ index }, 'line');",
      'process.exit(0);',
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, LOG_LEVEL: 'info' } });
    assert.equal(run.status, 0, run.stderr);
    const indexes = run.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { index: number }).index);
    assert.deepEqual(indexes, Array.from({ length: 2000 }, (_, index) => index));
  });
});
