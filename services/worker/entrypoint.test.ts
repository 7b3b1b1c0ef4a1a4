import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NoEntrypointError, planLaunch, type Toolchain } from './entrypoint.js';

const toolchain: Toolchain = { python3: '/py', bash: '/bash', gcc: '/gcc', gxx: '/gxx', node: '/node' };

describe('planLaunch', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faas-entry-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers the command over convention files', async () => {
    await writeFile(join(dir, 'main.py'), '');
    const plan = await planLaunch(dir, ['make', 'all'], ['-j2'], toolchain, '/out');
    assert.deepEqual(plan.run, { file: 'make', args: ['all', '-j2'] });
    assert.equal(plan.build, undefined);
  });

  it('looks for convention files in order', async () => {
    await writeFile(join(dir, 'main.js'), '');
    await writeFile(join(dir, 'main.sh'), '');
    const plan = await planLaunch(dir, [], ['x'], toolchain, '/out');
    assert.equal(plan.source, 'main.sh');
    assert.deepEqual(plan.run, { file: '/bash', args: ['main.sh', 'x'] });
  });

  it('runs main.py unbuffered, so its output is live', async () => {
    await writeFile(join(dir, 'main.py'), '');
    const plan = await planLaunch(dir, [], ['x'], toolchain, '/out');
    assert.deepEqual(plan.run, { file: '/py', args: ['-u', 'main.py', 'x'] });
  });

  it('builds C and C++ before running the binary', async () => {
    await writeFile(join(dir, 'main.cpp'), '');
    const plan = await planLaunch(dir, [], [], toolchain, '/out/main');
    assert.equal(plan.build!.file, '/gxx');
    assert.ok(plan.build!.args.includes('main.cpp'));
    assert.deepEqual(plan.run, { file: '/out/main', args: [] });
  });

  it('names every file it looked for', async () => {
    await assert.rejects(planLaunch(dir, [], [], toolchain, '/out'), (error: Error) => {
      assert.ok(error instanceof NoEntrypointError);
      assert.match(error.message, /main\.py, main\.sh, main\.c, main\.cpp, main\.js/);
      return true;
    });
  });

  it('says which tool is missing', async () => {
    await writeFile(join(dir, 'main.c'), '');
    await assert.rejects(planLaunch(dir, [], [], { ...toolchain, gcc: undefined }, '/out'), /found main\.c, but gcc is not installed/);
  });
});
