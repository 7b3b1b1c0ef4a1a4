import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJobCgroup, type JobCgroup } from './cgroups.js';
import { buildSandboxCommand, type SandboxOptions } from './command.js';
import { cleanUpTests, makeTestJob, requireSandboxPrograms, runInSandbox, testLimits, type TestJob } from './test-support.js';

const options: SandboxOptions = {
  uid: 61005,
  gid: 61006,
  jobDir: '/srv/jobs/a',
  workDir: '/srv/jobs/a/src',
  env: { PATH: '/usr/bin:/bin' },
  network: false,
  rlimits: { fileSizeBytes: 1024, openFiles: 64 },
  procsFiles: ['/sys/fs/cgroup/memory/faas/x/cgroup.procs', '/sys/fs/cgroup/pids/faas/x/cgroup.procs'],
  argv: ['python3', 'main.py'],
};

describe('buildSandboxCommand with the sandbox entry', () => {
  it('passes ids, rlimits and procs files to the entry, which starts bubblewrap', () => {
    const command = buildSandboxCommand({ ...options, enter: '/var/lib/faas/faas-enter-x' });
    assert.equal(command.file, '/var/lib/faas/faas-enter-x');
    assert.deepEqual(command.args.slice(0, 8), ['61005', '61006', '1024', '64', '2', ...options.procsFiles, 'bwrap']);
  });

  it('gives bubblewrap the same arguments as the shell chain does', () => {
    const viaEntry = buildSandboxCommand({ ...options, enter: '/var/lib/faas/faas-enter-x' }).args;
    const viaChain = buildSandboxCommand(options).args;
    assert.deepEqual(viaEntry.slice(viaEntry.indexOf('bwrap')), viaChain.slice(viaChain.indexOf('bwrap')));
  });

  it('rejects a relative path to the entry', () => {
    assert.throws(() => buildSandboxCommand({ ...options, enter: 'faas-enter' }), /invalid enter "faas-enter": expected an absolute path/);
  });
});

/** Lines of /proc/self/status and /proc/self/limits that show what a process may do. */
const privilegeLines = /^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|Max file size|Max open files|Max core file size)\b.*$/gm;

function privileges(output: string): string[] {
  return (output.match(privilegeLines) ?? []).map((line) => line.replace(/\s+/g, ' ').trim());
}

describe('sandbox entry', function () {
  this.timeout(60_000);
  const root = join(tmpdir(), `faas-enter-test-${process.pid}`);
  let enter: string;
  let cgroup: JobCgroup;
  let job: TestJob;

  before(async function () {
    enter = (await requireSandboxPrograms(this)).enter;
    cgroup = await createJobCgroup(`enter-test-${process.pid}`, testLimits);
    job = await makeTestJob(root, 4);
  });
  after(async () => {
    await cgroup?.remove();
    await cleanUpTests(root);
  });

  /** Runs the entry directly, without bubblewrap behind it. */
  function runEntry(args: string[]) {
    return spawnSync(enter, args, { encoding: 'utf8', timeout: 5_000, env: { PATH: '/usr/bin:/bin' } });
  }

  it('drops to the given ids and rlimits, with no groups or capabilities', () => {
    const run = runEntry(['61005', '61006', '1048576', '64', '0', 'cat', '/proc/self/status', '/proc/self/limits']);
    assert.equal(run.status, 0, run.stderr);
    const lines = privileges(run.stdout);
    assert.ok(lines.includes('Uid: 61005 61005 61005 61005'), lines.join('\n'));
    assert.ok(lines.includes('Gid: 61006 61006 61006 61006'), lines.join('\n'));
    assert.ok(lines.includes('Groups:'), lines.join('\n'));
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.ok(lines.includes(`${set}: 0000000000000000`), `${set} in ${lines.join('\n')}`);
    assert.ok(lines.includes('Max file size 1048576 1048576 bytes'), lines.join('\n'));
    assert.ok(lines.includes('Max open files 64 64 files'), lines.join('\n'));
    assert.ok(lines.includes('Max core file size 0 0 bytes'), lines.join('\n'));
  });

  it('leaves a process with what prlimit and setpriv leave it', () => {
    const viaEntry = runEntry(['61005', '61006', '1048576', '64', '0', 'cat', '/proc/self/status', '/proc/self/limits']);
    const viaChain = spawnSync(
      'prlimit',
      ['--fsize=1048576', '--nofile=64', '--core=0', '--', 'setpriv', '--reuid=61005', '--regid=61006', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--', 'cat', '/proc/self/status', '/proc/self/limits'],
      { encoding: 'utf8', timeout: 5_000 },
    );
    assert.equal(viaChain.status, 0, viaChain.stderr);
    assert.deepEqual(privileges(viaEntry.stdout), privileges(viaChain.stdout));
  });

  it('moves into each cgroup before it starts the program', () => {
    const run = runEntry(['61005', '61006', '1048576', '64', String(cgroup.procsFiles.length), ...cgroup.procsFiles, 'cat', '/proc/self/cgroup']);
    assert.equal(run.status, 0, run.stderr);
    for (const controller of ['memory', 'pids']) {
      assert.match(run.stdout, new RegExp(`^\\d+:[^:]*\\b${controller}\\b[^:]*:/faas/enter-test-${process.pid}$`, 'm'));
    }
  });

  it('stops with 125 and a message when a step fails', () => {
    const missing = runEntry(['61005', '61006', '1048576', '64', '1', '/nonexistent/cgroup.procs', 'true']);
    assert.equal(missing.status, 125);
    assert.equal(missing.stderr, 'sandbox: joining cgroup /nonexistent/cgroup.procs failed: No such file or directory\n');

    const asRoot = runEntry(['0', '61006', '1048576', '64', '0', 'true']);
    assert.equal(asRoot.status, 125);
    assert.equal(asRoot.stderr, 'sandbox: refusing to run a job as root\n');

    const badNumber = runEntry(['61005', '61006', '-1', '64', '0', 'true']);
    assert.equal(badNumber.status, 125);
    assert.equal(badNumber.stderr, 'sandbox: invalid file size limit "-1": expected a whole number\n');

    const noProgram = runEntry(['61005', '61006', '1048576', '64', '2', '/a/cgroup.procs', 'true']);
    assert.equal(noProgram.status, 125);
    assert.equal(noProgram.stderr, 'sandbox: expected 2 procs files and a program\n');
  });

  it('exits 127 when the program does not exist', () => {
    const run = runEntry(['61005', '61006', '1048576', '64', '0', 'no-such-program']);
    assert.equal(run.status, 127);
    assert.equal(run.stderr, 'sandbox: starting no-such-program failed: No such file or directory\n');
  });

  it('gives a job in the sandbox the same view as the shell chain', async () => {
    const script = 'id; ulimit -f; ulimit -n; ulimit -c; grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status';
    const viaEntry = await runInSandbox(job, ['sh', '-c', script], { fileSizeBytes: 4 << 20 });
    const viaChain = await runInSandbox(job, ['sh', '-c', script], { fileSizeBytes: 4 << 20, chain: true });
    assert.equal(viaEntry.process.exitCode, 0, viaEntry.process.stderr.toString());
    assert.equal(viaChain.process.exitCode, 0, viaChain.process.stderr.toString());
    assert.equal(viaEntry.process.stdout.toString(), viaChain.process.stdout.toString());
    assert.match(viaEntry.process.stdout.toString(), /^uid=61004\b.*\n8192\n256\n0\n/);
  });
});
