import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupStats, JobCgroup } from './cgroups.js';
import { cleanUpTests, makeTestJob, runInSandbox, sandboxUnavailable, startInCgroup } from './test-support.js';

// Each hostile program below is bounded twice: by the sandbox limit under
// test, and by its own loop limit or the 10 s abort in runInSandbox.

const root = `/tmp/faas-sandbox-hostile-${process.pid}`;

async function readProcs(cgroup: JobCgroup): Promise<string[]> {
  const pids: string[] = [];
  for (const file of cgroup.procsFiles) pids.push(...(await readFile(file, 'utf8')).split('\n').filter(Boolean));
  return pids;
}

/** Polls the cgroup's stats for up to 5 s until `done` holds, returning the last reading. */
async function waitForStats(cgroup: JobCgroup, done: (stats: CgroupStats) => boolean): Promise<CgroupStats> {
  const deadline = Date.now() + 5_000;
  let stats = await cgroup.stats();
  while (!done(stats) && Date.now() < deadline) {
    await sleep(20);
    stats = await cgroup.stats();
  }
  return stats;
}

describe('sandbox against hostile jobs', function () {
  before(async function () {
    const reason = await sandboxUnavailable();
    if (reason) {
      console.log(`skipped: ${reason}`);
      this.skip();
    }
  });

  after(() => cleanUpTests(root));

  it('contains a fork bomb at the pids limit', async () => {
    const job = await makeTestJob(root, 1);
    // At most 3,000 forks, each child sleeping past the abort.
    const bomb = 'i=0; while [ $i -lt 3000 ]; do sleep 30 & i=$((i+1)); done; wait';
    const started = await startInCgroup(job, ['/bin/sh', '-c', bomb], { limits: { memoryBytes: 256 << 20, pids: 32, cpuPercent: 100 } });
    try {
      await waitForStats(started.cgroup, (stats) => stats.pidsLimitHit);
      const stats = await started.cgroup.stats();
      const host = spawnSync('/bin/true');
      await started.cgroup.killAll();
      const left = await readProcs(started.cgroup);
      const result = await started.done;

      assert.equal(stats.pidsLimitHit, true);
      assert.equal(host.status, 0, 'the host can still start processes');
      assert.deepEqual(left, []);
      assert.match(result.stderr.toString(), /fork/i);
    } finally {
      started.abort();
      await started.cgroup.killAll();
      await started.cgroup.remove();
    }
  });

  it('reports OOM for a memory hog with exit 137', async () => {
    const job = await makeTestJob(root, 1);
    // Allocates filled 1 MiB blocks and stops by itself at 2 GiB.
    const hog = 'blocks = []\nwhile len(blocks) < 2048:\n    blocks.append(b"\\x01" * (1 << 20))\nprint("not killed")';
    const run = await runInSandbox(job, ['/usr/bin/python3', '-c', hog], { limits: { memoryBytes: 64 << 20, pids: 16, cpuPercent: 100 } });

    assert.equal(run.stats.oomKilled, true);
    assert.equal(run.process.exitCode, 137);
    assert.doesNotMatch(run.process.stdout.toString(), /not killed/);
  });

  it('kills an infinite loop and its session', async () => {
    const job = await makeTestJob(root, 1);
    // The second loop runs in a new session, which the process-group kill alone would miss.
    const loop = 'setsid sh -c "while :; do :; done" & while :; do :; done';
    const started = await startInCgroup(job, ['/bin/sh', '-c', loop], { timeoutMs: 1_000 });
    try {
      const result = await started.done;
      const cpu = await waitForStats(started.cgroup, (stats) => stats.cpuTimeMs > 100);
      await started.cgroup.killAll();
      const left = await readProcs(started.cgroup);

      assert.equal(result.signal, 'SIGKILL');
      assert.ok(cpu.cpuTimeMs > 100, `cpu time ${cpu.cpuTimeMs} ms`);
      assert.deepEqual(left, []);
    } finally {
      started.abort();
      await started.cgroup.killAll();
      await started.cgroup.remove();
    }
  });

  it('runSandboxed kills a timed-out job', async () => {
    const job = await makeTestJob(root, 1);
    const startedMs = Date.now();
    // runSandboxed removes the cgroup at the end, which the kernel rejects while a process is left in it.
    const run = await runInSandbox(job, ['/bin/sh', '-c', 'sleep 30 & setsid sleep 30 & while :; do :; done'], { timeoutMs: 500 });
    const elapsedMs = Date.now() - startedMs;

    assert.equal(run.process.signal, 'SIGKILL');
    assert.ok(elapsedMs < 5_000, `the job ran for ${elapsedMs} ms`);
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    let connections = 0;

    before(async () => {
      server = createServer((socket) => {
        connections += 1;
        socket.end('hello\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });

    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const connect = (target: number) =>
      [
        'import socket',
        'try:',
        `    socket.create_connection(("127.0.0.1", ${target}), timeout=2).recv(16)`,
        '    print("connected")',
        'except OSError as error:',
        '    print("failed", error.errno)',
      ].join('\n');

    it('blocks a connection to a host listener', async () => {
      const job = await makeTestJob(root, 1);
      const before = connections;
      const run = await runInSandbox(job, ['/usr/bin/python3', '-c', connect(port)]);

      assert.match(run.process.stdout.toString(), /^failed/);
      assert.equal(connections, before);
    });

    it('allows the connection with network on', async () => {
      // Shows the check above can fail: the same program connects when the namespace is shared.
      const job = await makeTestJob(root, 1);
      const before = connections;
      const run = await runInSandbox(job, ['/usr/bin/python3', '-c', connect(port)], { network: true });

      assert.match(run.process.stdout.toString(), /^connected/);
      assert.equal(connections, before + 1);
    });

    it('shows only lo', async () => {
      const job = await makeTestJob(root, 1);
      const run = await runInSandbox(job, ['/bin/ls', '/sys/class/net', '/proc/net/dev']);
      const dev = await runInSandbox(job, ['/bin/cat', '/proc/net/dev']);

      assert.doesNotMatch(dev.process.stdout.toString(), /eth|ens|veth|wl/);
      assert.match(dev.process.stdout.toString(), /lo:/);
      assert.notEqual(run.process.exitCode, 0, '/sys is not mounted');
    });
  });

  it('stops a file-size bomb with SIGXFSZ', async () => {
    const job = await makeTestJob(root, 1);
    // head stops by itself at 200 MiB.
    const run = await runInSandbox(job, ['/bin/sh', '-c', 'head -c 209715200 /dev/zero > /job/big'], { fileSizeBytes: 8 << 20 });
    const size = (await stat(join(job.jobDir, 'big'))).size;

    assert.equal(run.process.exitCode, 128 + 25, `exit code ${run.process.exitCode}, SIGXFSZ is 25`);
    assert.ok(size <= 8 << 20, `file grew to ${size} bytes`);
  });

  it('stops a file-size bomb with EFBIG', async () => {
    const job = await makeTestJob(root, 1);
    // Python ignores SIGXFSZ, so the write fails with EFBIG; the loop stops by itself at 200 MiB.
    const bomb = [
      'import errno',
      'try:',
      '    with open("/job/big", "wb") as file:',
      '        for _ in range(200):',
      '            file.write(b"x" * (1 << 20))',
      '    print("not stopped")',
      'except OSError as error:',
      '    print("stopped", errno.errorcode[error.errno])',
    ].join('\n');
    const run = await runInSandbox(job, ['/usr/bin/python3', '-c', bomb], { fileSizeBytes: 8 << 20 });

    assert.match(run.process.stdout.toString(), /stopped EFBIG/);
  });
});
