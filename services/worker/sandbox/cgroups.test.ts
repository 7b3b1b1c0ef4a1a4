import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJobCgroup, detectCgroups, removeStaleJobCgroups, type CgroupLimits } from './cgroups.js';
import { removeCgroupParents, sandboxUnavailable } from './test-support.js';

const limits: CgroupLimits = { memoryBytes: 96 << 20, pids: 40, cpuPercent: 50 };

// NOTE: no machine here has a cgroup v2 hierarchy with controllers, so these
// tests run the v2 code against a temporary folder with the v2 file names.
// They check which files are written and read, not how a kernel reacts.
describe('cgroup v2 on a fake folder', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-cgroup-v2-'));
    await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    await writeFile(join(root, 'cgroup.subtree_control'), '');
    await mkdir(join(root, 'faas'));
    await writeFile(join(root, 'faas', 'memory.swap.max'), 'max\n');
  });

  afterEach(() => rm(root, { recursive: true, force: true }));

  it('detects v2', async () => {
    assert.deepEqual(await detectCgroups(root), { version: 2, usable: true });
  });

  it('reports missing controllers', async () => {
    await writeFile(join(root, 'cgroup.controllers'), 'cpu io\n');
    const support = await detectCgroups(root);

    assert.equal(support.usable, false);
    assert.match(support.problem ?? '', /memory, pids/);
  });

  it('writes the limits', async () => {
    const cgroup = await createJobCgroup('job-1', limits, root);
    const folder = join(root, 'faas', 'job-1');
    const read = (name: string) => readFile(join(folder, name), 'utf8');

    assert.deepEqual(cgroup.procsFiles, [join(folder, 'cgroup.procs')]);
    assert.equal(await read('memory.max'), String(96 << 20));
    assert.equal(await read('memory.swap.max'), '0');
    assert.equal(await read('pids.max'), '40');
    assert.equal(await read('cpu.max'), '50000 100000');
    assert.equal(await readFile(join(root, 'cgroup.subtree_control'), 'utf8'), '+memory +pids +cpu');
    assert.equal(await readFile(join(root, 'faas', 'cgroup.subtree_control'), 'utf8'), '+memory +pids +cpu');
  });

  it('skips swap without swap accounting', async () => {
    await unlink(join(root, 'faas', 'memory.swap.max'));
    await createJobCgroup('job-1', limits, root);

    assert.equal(existsSync(join(root, 'faas', 'job-1', 'memory.swap.max')), false);
  });

  it('reads stats', async () => {
    const cgroup = await createJobCgroup('job-1', limits, root);
    const folder = join(root, 'faas', 'job-1');
    const fresh = await cgroup.stats();
    await writeFile(join(folder, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n');
    await writeFile(join(folder, 'memory.peak'), '12345678\n');
    await writeFile(join(folder, 'memory.events'), 'low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n');
    await writeFile(join(folder, 'pids.events'), 'max 3\n');

    assert.deepEqual(fresh, { cpuTimeMs: 0, peakMemoryBytes: 0, oomKilled: false, pidsLimitHit: false });
    assert.deepEqual(await cgroup.stats(), { cpuTimeMs: 2500, peakMemoryBytes: 12345678, oomKilled: true, pidsLimitHit: true });
  });

  it('kills through cgroup.kill', async () => {
    const cgroup = await createJobCgroup('job-1', limits, root);
    const folder = join(root, 'faas', 'job-1');
    await writeFile(join(folder, 'cgroup.kill'), '');
    await writeFile(join(folder, 'cgroup.procs'), '');
    await cgroup.killAll();

    assert.equal(await readFile(join(folder, 'cgroup.kill'), 'utf8'), '1');
  });

  it('removes the folder', async () => {
    const cgroup = await createJobCgroup('job-1', limits, root);
    const folder = join(root, 'faas', 'job-1');
    // A real cgroup folder can be removed while it shows interface files; a plain folder cannot.
    await rm(folder, { recursive: true });
    await mkdir(folder);
    await cgroup.remove();

    assert.equal(existsSync(folder), false);
  });

  it('removes stale empty job cgroups', async () => {
    // In a fake folder an empty cgroup is an empty folder, and one with a file stands for a cgroup that has a process.
    await mkdir(join(root, 'faas', 'left-empty'));
    const busy = join(root, 'faas', 'in-use');
    await mkdir(busy);
    await writeFile(join(busy, 'cgroup.procs'), '4242\n');

    assert.equal(await removeStaleJobCgroups(60_000, root), 0);
    assert.equal(existsSync(join(root, 'faas', 'left-empty')), true);
    assert.equal(await removeStaleJobCgroups(0, root), 1);
    assert.equal(existsSync(join(root, 'faas', 'left-empty')), false);
    assert.equal(existsSync(busy), true);
  });

  it('rejects bad names and limits', async () => {
    await assert.rejects(createJobCgroup('../escape', limits, root), /invalid cgroup name/);
    await assert.rejects(createJobCgroup('', limits, root), /invalid cgroup name/);
    await assert.rejects(createJobCgroup('ok', { ...limits, pids: 0 }, root), /invalid limits.pids/);
    await assert.rejects(createJobCgroup('ok', { ...limits, memoryBytes: 1.5 }, root), /invalid limits.memoryBytes/);
  });
});

describe('cgroup v1 on this machine', function () {
  const created: Array<{ remove(): Promise<void>; killAll(): Promise<void> }> = [];

  before(async function () {
    const reason = await sandboxUnavailable();
    if (reason) {
      console.log(`skipped: ${reason}`);
      this.skip();
    }
    if ((await detectCgroups()).version !== 1) this.skip();
  });

  afterEach(async () => {
    for (const cgroup of created.splice(0)) {
      await cgroup.killAll();
      await cgroup.remove();
    }
  });

  after(() => removeCgroupParents());

  it('detects v1', async () => {
    assert.deepEqual(await detectCgroups('/sys/fs/cgroup'), { version: 1, usable: true });
  });

  it('detects the hybrid v2 mount', async function () {
    // Hybrid hosts mount a v2 hierarchy with no controllers next to the v1 ones.
    if (!existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) this.skip();
    const unified = await detectCgroups('/sys/fs/cgroup/unified');

    assert.equal(unified.version, 2);
    assert.equal(unified.usable, false);
  });

  it('reports a missing root', async () => {
    const support = await detectCgroups('/nonexistent-cgroup-root');
    assert.equal(support.usable, false);
    assert.match(support.problem ?? '', /no cgroup file system/);
  });

  it('remakes removed parent folders', async () => {
    const first = await createJobCgroup(`v1-parent-${process.pid}-1`, limits);
    await first.remove();
    // The layout read for the first cgroup names parent folders that are gone now.
    await removeCgroupParents();
    const second = await createJobCgroup(`v1-parent-${process.pid}-2`, limits);
    created.push(second);
    assert.equal(second.procsFiles.every((file) => existsSync(file)), true);
  });

  it('writes limits under every controller', async () => {
    const name = `v1-limits-${process.pid}`;
    const cgroup = await createJobCgroup(name, limits);
    created.push(cgroup);
    const read = (controller: string, file: string) => readFile(join('/sys/fs/cgroup', controller, 'faas', name, file), 'utf8');

    assert.equal(cgroup.procsFiles.length, 5);
    assert.equal((await read('memory', 'memory.limit_in_bytes')).trim(), String(96 << 20));
    assert.equal((await read('memory', 'memory.memsw.limit_in_bytes')).trim(), String(96 << 20));
    assert.equal((await read('pids', 'pids.max')).trim(), '40');
    assert.equal((await read('cpu', 'cpu.cfs_quota_us')).trim(), '50000');
    assert.equal((await read('cpu', 'cpu.cfs_period_us')).trim(), '100000');
  });

  it('rejects a name in use', async () => {
    const name = `v1-twice-${process.pid}`;
    created.push(await createJobCgroup(name, limits));
    await assert.rejects(createJobCgroup(name, limits), /EEXIST/);
  });

  it('removes stale empty job cgroups and keeps busy ones', async () => {
    const stale = await createJobCgroup(`v1-stale-${process.pid}`, limits);
    const busy = await createJobCgroup(`v1-busy-${process.pid}`, limits);
    created.push(busy);
    const child = spawn('/bin/sh', ['-c', 'for file; do echo $$ > "$file"; done; exec sleep 30', 'sh', ...busy.procsFiles], { stdio: 'ignore' });
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      await waitFor(async () => (await readFile(busy.procsFiles[0], 'utf8')).trim() !== '');

      // Other cgroups on this host may be stale already, so only the fate of these two is checked.
      await removeStaleJobCgroups(60_000);
      assert.equal(stale.procsFiles.every((file) => existsSync(file)), true);
      assert.ok(await removeStaleJobCgroups(0) >= 5);
      assert.equal(stale.procsFiles.some((file) => existsSync(file)), false);
      assert.equal(busy.procsFiles.every((file) => existsSync(file)), true);
    } finally {
      clearTimeout(guard);
    }
  });

  it('kills a process that joined it', async () => {
    const cgroup = await createJobCgroup(`v1-kill-${process.pid}`, limits);
    created.push(cgroup);
    // The shell joins the cgroup like the sandbox launcher does, then forks a sleeper and waits.
    const joinAndSleep = 'for file; do echo $$ > "$file"; done; sleep 30 & wait';
    const child = spawn('/bin/sh', ['-c', joinAndSleep, 'sh', ...cgroup.procsFiles], { stdio: 'ignore' });
    const exited = new Promise<string | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      await waitFor(async () => (await readFile(cgroup.procsFiles[0], 'utf8')).trim().split('\n').length >= 2);
      const before = await cgroup.stats();
      await cgroup.killAll();
      const left = await readFile(cgroup.procsFiles[0], 'utf8');

      assert.equal(await exited, 'SIGKILL');
      assert.equal(left, '');
      assert.equal(before.oomKilled, false);
      assert.equal(before.pidsLimitHit, false);
      assert.ok(before.peakMemoryBytes > 0);
    } finally {
      clearTimeout(guard);
    }
  });

  it('signals every process but the one spared', async () => {
    const cgroup = await createJobCgroup(`v1-term-${process.pid}`, limits);
    created.push(cgroup);
    // The shell stands for bubblewrap, which must not get the signal, and its sleeper for the job.
    const joinAndSleep = 'for file; do echo $$ > "$file"; done; sleep 30 & echo $!; wait; echo "sleeper ended"';
    const child = spawn('/bin/sh', ['-c', joinAndSleep, 'sh', ...cgroup.procsFiles], { stdio: ['ignore', 'pipe', 'ignore'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      await waitFor(async () => (await readFile(cgroup.procsFiles[0], 'utf8')).trim().split('\n').length >= 2);
      await cgroup.signalAll('SIGTERM', child.pid!);

      assert.equal(await exited, 0);
      assert.match(output, /^\d+\nsleeper ended\n$/);
    } finally {
      clearTimeout(guard);
    }
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
