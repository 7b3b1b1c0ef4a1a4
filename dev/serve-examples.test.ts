import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = fileURLToPath(new URL('./serve-examples.ts', import.meta.url));
const gitEnv = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };

/** Starts the script with `args` and resolves with its output once it prints the Ctrl-C line. */
function serve(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; ready: Promise<string>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no output in time: ${output}`)), 30_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve(output);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}: ${output}`));
    });
  });
  return { child, ready, output: () => output };
}

describe('serve-examples', function () {
  this.timeout(60_000);
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-serve-examples-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('serves given folders, with or without git', async () => {
    const plain = join(root, 'plain');
    await mkdir(plain);
    await writeFile(join(plain, 'main.sh'), 'echo plain\n');
    const tracked = join(root, 'tracked');
    await mkdir(tracked);
    await writeFile(join(tracked, 'main.sh'), 'echo tracked\n');
    const git = (args: string[]) => run('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], { cwd: tracked, env: gitEnv });
    await git(['init', '-q', '-b', 'trunk']);
    await git(['add', '.']);
    await git(['commit', '-qm', 'first']);
    await git(['tag', 'v1']);

    const { child, ready, output: allOutput } = serve(['--port', '0', plain, tracked]);
    try {
      const output = await ready;
      const urls = [...output.matchAll(/http:\/\/127\.0\.0\.1:\d+\/[a-z]+\.git/g)].map((match) => match[0]);
      assert.deepEqual(urls.map((url) => url.slice(url.lastIndexOf('/') + 1)), ['plain.git', 'tracked.git']);
      const refs = async (url: string) => (await run('git', ['ls-remote', url], { env: gitEnv })).stdout;
      assert.match(await refs(urls[0]), /refs\/heads\/main/);
      const trackedRefs = await refs(urls[1]);
      assert.match(trackedRefs, /refs\/heads\/trunk/);
      assert.match(trackedRefs, /refs\/tags\/v1/);

      // A commit made while the folder is served shows up at once.
      await writeFile(join(tracked, 'main.sh'), 'echo second\n');
      await git(['commit', '-qam', 'second']);
      const head = (await git(['rev-parse', 'HEAD'])).stdout.trim();
      assert.match(await refs(urls[1]), new RegExp(`^${head}\\tHEAD$`, 'm'));
    } finally {
      child.kill('SIGTERM');
    }
    const code = child.exitCode ?? (await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode))));
    assert.equal(code, 0);
    assert.match(allOutput(), /Stopped serving the repositories\.\n$/);
    // Stopping deletes the link to the checkout's git folder, not the folder.
    assert.equal(existsSync(join(tracked, '.git', 'HEAD')), true);
  });

  it('serves a bare repository with its commits', async () => {
    const source = join(root, 'source');
    await mkdir(source);
    await writeFile(join(source, 'main.sh'), 'echo bare\n');
    const git = (args: string[], cwd = source) => run('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], { cwd, env: gitEnv });
    await git(['init', '-q', '-b', 'trunk']);
    await git(['add', '.']);
    await git(['commit', '-qm', 'first']);
    await git(['clone', '-q', '--bare', source, join(root, 'bare.git')], root);
    const head = (await git(['rev-parse', 'HEAD'])).stdout.trim();

    const { FAAS_SERVER: _server, ...env } = process.env;
    const { child, ready } = serve(['--port', '0', join(root, 'bare.git')], { ...env, GATEWAY_PORT: '48999' });
    try {
      const output = await ready;
      const url = /http:\/\/127\.0\.0\.1:\d+\/bare\.git/.exec(output)?.[0];
      assert.ok(url, 'the bare repository is served under its name');
      assert.match(output, /^ {2}FAAS_SERVER=127\.0\.0\.1:48999 npx faas submit http:/m, 'the commands name the gateway of GATEWAY_PORT');
      const refs = (await run('git', ['ls-remote', url], { env: gitEnv })).stdout;
      assert.match(refs, new RegExp(`^${head}\trefs/heads/trunk$`, 'm'));
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('reports a port in use and removes its temporary folder', async () => {
    const occupied = createServer();
    await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve));
    const port = (occupied.address() as AddressInfo).port;
    const before = (await readdir(tmpdir())).filter((name) => name.startsWith('faas-examples-'));
    try {
      const failed = await run(process.execPath, ['--import', 'tsx', script, '--port', String(port), join(fileURLToPath(new URL('..', import.meta.url)), 'examples', 'shell')]).then(
        () => assert.fail('expected exit code 1'),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(failed.code, 1);
      assert.equal(failed.stderr, `port ${port} is in use: pick another with --port, or leave --port out for a free one\n`);
    } finally {
      occupied.close();
    }
    // An earlier test's server may still be removing its own folder, so only new folders count.
    const added = (await readdir(tmpdir())).filter((name) => name.startsWith('faas-examples-') && !before.includes(name));
    assert.deepEqual(added, []);
  });

  it('rejects a missing folder and a bad port', async () => {
    for (const args of [[join(root, 'missing')], ['--port', 'x']]) {
      const failed = await run(process.execPath, ['--import', 'tsx', script, ...args]).then(
        () => assert.fail('expected exit code 2'),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(failed.code, 2);
      assert.match(failed.stderr, /usage: npm run serve-examples/);
    }
  });
});
