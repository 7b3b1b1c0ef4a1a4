import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeIsolation } from './probe.js';
import { cleanUpTests, sandboxUnavailable, testPrograms } from './test-support.js';
import { sandboxUser } from './users.js';

const root = `/tmp/faas-sandbox-probe-${process.pid}`;

describe('probeIsolation', function () {
  before(async function () {
    const reason = await sandboxUnavailable();
    if (reason) {
      console.log(`skipped: ${reason}`);
      this.skip();
    }
  });

  after(() => cleanUpTests(root));

  for (const launch of ['the shell chain', 'the sandbox entry'] as const) {
    it(`reports sandboxed here, started through ${launch}`, async () => {
      const enter = launch === 'the sandbox entry' ? (await testPrograms())?.enter : undefined;
      assert.ok(launch === 'the shell chain' || enter, 'gcc is needed to build the sandbox entry');
      const report = await probeIsolation({ workRoot: root, user: sandboxUser(6), enter });

      assert.deepEqual(report.problems, []);
      assert.equal(report.level, 'sandboxed');
      for (const [name, passed] of Object.entries(report.checks)) assert.equal(passed, true, name);
      assert.deepEqual(await readdir(root), [], 'the probe folder is removed');
    });
  }

  it('reports a sandbox entry that cannot start bubblewrap', async () => {
    const report = await probeIsolation({ workRoot: root, user: sandboxUser(6), enter: '/nonexistent/faas-enter' });

    assert.equal(report.level, 'none');
    assert.equal(report.checks.started, false);
  });

  it('reports none without cgroup controllers', async () => {
    const cgroupRoot = await mkdtemp(join(tmpdir(), 'faas-probe-v2-'));
    await writeFile(join(cgroupRoot, 'cgroup.controllers'), 'cpu io\n');
    const report = await probeIsolation({ workRoot: root, user: sandboxUser(6), cgroupRoot }).finally(() => rm(cgroupRoot, { recursive: true }));

    assert.equal(report.level, 'none');
    assert.equal(report.checks.cgroupLimits, false);
    assert.equal(report.checks.noNetwork, true);
    assert.match(report.problems.join('\n'), /cgroups are not usable/);
  });
});
