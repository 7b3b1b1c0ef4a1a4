import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const examplesFolder = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples');
const runTimeoutMs = 20_000;

interface ProgramResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program without a shell, feeding `input` to stdin, and kills it after 20 s. */
function runProgram(command: string, args: string[], cwd: string, input: string): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'], timeout: runTimeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.once('error', reject);
    child.once('close', (exitCode) => resolve({ exitCode, stdout, stderr }));
  });
}

interface ExampleCase {
  folder: string;
  /** Compiles the example into `buildFolder` and returns the command that runs it. */
  prepare(buildFolder: string, sourceFolder: string): Promise<[string, string[]]>;
  input: string;
  expectedStdout: RegExp;
  invalidInput: string;
}

async function compile(compiler: string, source: string, binary: string): Promise<void> {
  // -Werror keeps the examples free of warnings a user would see when building them.
  const result = await runProgram(compiler, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, source], dirname(source), '');
  assert.equal(result.exitCode, 0, `${compiler} failed on ${source}:\n${result.stderr}`);
}

const examples: ExampleCase[] = [
  {
    folder: 'python',
    prepare: async () => ['python3', ['main.py']],
    input: '{"text": "to be or not to be", "top": 2}',
    expectedStdout: /^6 words, 4 distinct/m,
    invalidInput: '{"text": 42}',
  },
  {
    folder: 'shell',
    prepare: async () => ['bash', ['main.sh']],
    input: '{"name": "Ada"}',
    expectedStdout: /^Hello, Ada!$/m,
    invalidInput: 'not json',
  },
  {
    folder: 'c',
    prepare: async (buildFolder, sourceFolder) => {
      const binary = join(buildFolder, 'primes');
      await compile('gcc', join(sourceFolder, 'main.c'), binary);
      return [binary, []];
    },
    input: '{"n": 1000}',
    expectedStdout: /^There are 168 primes up to 1000\.$/m,
    invalidInput: '{"n": "many"}',
  },
  {
    folder: 'cpp',
    prepare: async (buildFolder, sourceFolder) => {
      const binary = join(buildFolder, 'fibonacci');
      await compile('g++', join(sourceFolder, 'main.cpp'), binary);
      return [binary, []];
    },
    input: '{"n": 10}',
    expectedStdout: /^F\(0\)\.\.F\(9\): 0 1 1 2 3 5 8 13 21 34$/m,
    invalidInput: '{"n": 95}',
  },
  {
    folder: 'node',
    prepare: async () => [process.execPath, ['main.js']],
    input: '{"numbers": [2, 4, 4, 4, 5, 5, 7, 9]}',
    expectedStdout: /^mean 5, median 4\.5, standard deviation 2$/m,
    invalidInput: '{"numbers": []}',
  },
];

describe('examples', () => {
  let buildRoot: string;

  before(async () => {
    buildRoot = await mkdtemp(join(tmpdir(), 'faas-examples-'));
  });

  after(async () => {
    await rm(buildRoot, { recursive: true, force: true });
  });

  for (const example of examples) {
    describe(example.folder, () => {
      const sourceFolder = join(examplesFolder, example.folder);
      let command: [string, string[]];

      before(async () => {
        const buildFolder = await mkdtemp(join(buildRoot, `${example.folder}-`));
        command = await example.prepare(buildFolder, sourceFolder);
      });

      it('runs with empty stdin', async () => {
        const result = await runProgram(command[0], command[1], sourceFolder, '');

        assert.equal(result.exitCode, 0, `stderr: ${result.stderr}`);
        assert.ok(result.stdout.trim().split('\n').length >= 2, `expected two stdout lines, got: ${result.stdout}`);
        assert.equal(result.stderr.trim().split('\n').length, 1, `expected one stderr line, got: ${result.stderr}`);
      });

      it('runs with JSON input', async () => {
        const result = await runProgram(command[0], command[1], sourceFolder, example.input);

        assert.equal(result.exitCode, 0, `stderr: ${result.stderr}`);
        assert.match(result.stdout, example.expectedStdout);
        assert.equal(result.stderr.trim().split('\n').length, 1, `expected one stderr line, got: ${result.stderr}`);
      });

      it('exits 2 on invalid input', async () => {
        const result = await runProgram(command[0], command[1], sourceFolder, example.invalidInput);

        assert.equal(result.exitCode, 2, `stdout: ${result.stdout}`);
        assert.match(result.stderr, /invalid input/);
      });
    });
  }
});
