import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const examples = fileURLToPath(new URL('../examples', import.meta.url));

/** Runs `argv` with `input` on stdin, at most 30 s, and returns its exit code and stderr. */
function run(argv: string[], input: string, cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['pipe', 'ignore', 'pipe'], timeout: 30_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
    child.stdin.end(input);
  });
}

describe('examples', function () {
  this.timeout(120_000);
  let built: string;
  const commands: Record<string, () => string[]> = {
    python: () => ['python3', 'main.py'],
    shell: () => ['bash', 'main.sh'],
    node: () => [process.execPath, 'main.js'],
    c: () => [join(built, 'c')],
    cpp: () => [join(built, 'cpp')],
  };

  before(async () => {
    built = await mkdtemp(join(tmpdir(), 'faas-examples-test-'));
    await promisify(execFile)('gcc', ['-O2', '-o', join(built, 'c'), join(examples, 'c', 'main.c')]);
    await promisify(execFile)('g++', ['-O2', '-std=c++17', '-o', join(built, 'cpp'), join(examples, 'cpp', 'main.cpp')]);
  });

  after(() => rm(built, { recursive: true, force: true }));

  for (const [name, command] of Object.entries(commands)) {
    it(`${name}: accepts no input and rejects input that is not an object`, async () => {
      const folder = join(examples, name);
      assert.equal((await run(command(), '', folder)).code, 0, 'empty input');
      assert.equal((await run(command(), ' {} \n', folder)).code, 0, 'an empty object');
      for (const input of ['notjson', '[1, 2]']) {
        const rejected = await run(command(), input, folder);
        assert.equal(rejected.code, 2, `input ${input}`);
        assert.match(rejected.stderr, /^invalid input: /);
      }
    });
  }
});
