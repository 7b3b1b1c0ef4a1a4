import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildSandboxCommand, type SandboxOptions } from './command.js';
import { cleanUpTests, makeTestJob, runInSandbox, sandboxUnavailable, type TestJob } from './test-support.js';
import { writeIdentityFiles } from './users.js';

const options: SandboxOptions = {
  uid: 61005,
  gid: 61005,
  jobDir: '/srv/jobs/a b',
  workDir: '/srv/jobs/a b/src',
  env: { PATH: '/usr/bin:/bin', NAME: 'value with spaces; $(rm -rf /)' },
  network: false,
  rlimits: { fileSizeBytes: 1024, openFiles: 64 },
  procsFiles: ['/sys/fs/cgroup/memory/faas/x/cgroup.procs', '/sys/fs/cgroup/pids/faas/x/cgroup.procs'],
  argv: ['/usr/bin/python3', 'main.py', '--flag'],
};

function argsAfter(args: string[], marker: string): string[] {
  return args.slice(args.indexOf(marker) + 1);
}

describe('buildSandboxCommand', () => {
  it('chains sh, prlimit, setpriv and bwrap', () => {
    const command = buildSandboxCommand(options);

    assert.equal(command.file, '/bin/sh');
    assert.equal(command.args[0], '-c');
    assert.deepEqual(command.args.slice(3, 6), ['2', ...options.procsFiles]);
    assert.deepEqual(command.args.slice(6, 11), ['prlimit', '--fsize=1024', '--nofile=64', '--core=0', '--']);
    assert.deepEqual(command.args.slice(11, 19), [
      'setpriv',
      '--reuid=61005',
      '--regid=61005',
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
      'bwrap',
    ]);
  });

  it('keeps paths and values out of the script', () => {
    const command = buildSandboxCommand(options);
    const script = command.args[1];

    assert.doesNotMatch(script, /faas|srv|rm -rf/);
    assert.ok(command.args.includes('value with spaces; $(rm -rf /)'));
  });

  it('unshares every namespace', () => {
    const bwrap = argsAfter(buildSandboxCommand(options).args, 'bwrap');
    for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup', '--unshare-net']) {
      assert.ok(bwrap.includes(flag), flag);
    }
    for (const flag of ['--disable-userns', '--die-with-parent', '--new-session', '--clearenv']) {
      assert.ok(bwrap.includes(flag), flag);
    }
    assert.ok(!bwrap.includes('--unshare-all'));
  });

  it('shares the network when asked', () => {
    const bwrap = argsAfter(buildSandboxCommand({ ...options, network: true }).args, 'bwrap');

    assert.ok(!bwrap.includes('--unshare-net'));
    assert.ok(bwrap.includes('/etc/resolv.conf'));
  });

  it('mounts the job folder and ends with argv', () => {
    const bwrap = argsAfter(buildSandboxCommand(options).args, 'bwrap');
    const bind = bwrap.indexOf('--bind');
    const chdir = bwrap.indexOf('--chdir');

    assert.deepEqual(bwrap.slice(bind, bind + 3), ['--bind', '/srv/jobs/a b', '/job']);
    assert.deepEqual(bwrap.slice(chdir, chdir + 2), ['--chdir', '/job/src']);
    assert.deepEqual(bwrap.slice(-4), ['--', ...options.argv]);
  });

  it('passes a tiny launcher environment', () => {
    assert.deepEqual(Object.keys(buildSandboxCommand(options).env), ['PATH']);
  });

  it('rejects bad options', () => {
    assert.throws(() => buildSandboxCommand({ ...options, uid: 0 }), /invalid uid 0/);
    assert.throws(() => buildSandboxCommand({ ...options, workDir: '/srv/jobs/other' }), /invalid workDir/);
    assert.throws(() => buildSandboxCommand({ ...options, workDir: '/srv/jobs/a b/../a bc' }), /invalid workDir/);
    assert.throws(() => buildSandboxCommand({ ...options, jobDir: 'relative' }), /invalid jobDir/);
    assert.throws(() => buildSandboxCommand({ ...options, argv: [] }), /invalid argv/);
    assert.throws(() => buildSandboxCommand({ ...options, env: { 'A=B': 'x' } }), /invalid environment variable name/);
    assert.throws(() => buildSandboxCommand({ ...options, rlimits: { fileSizeBytes: 0, openFiles: 1 } }), /invalid rlimits.fileSizeBytes/);
  });
});

const root = `/tmp/faas-sandbox-command-${process.pid}`;

describe('sandboxed programs', function () {
  before(async function () {
    const reason = await sandboxUnavailable();
    if (reason) {
      console.log(`skipped: ${reason}`);
      this.skip();
    }
  });

  after(async () => {
    delete process.env.FAAS_SECRET_FOR_TEST;
    await cleanUpTests(root);
  });

  describe('toolchains', () => {
    let job: TestJob;

    before(async () => {
      job = await makeTestJob(root, 2, async (workDir) => {
        await writeFile(join(workDir, 'main.c'), '#include <stdio.h>\nint main(void) { printf("c %d\\n", 6 * 7); return 0; }\n');
        await writeFile(join(workDir, 'main.cpp'), '#include <iostream>\n#include <vector>\nint main() { std::vector<int> v{1, 2}; std::cout << "c++ " << v.size() << std::endl; }\n');
      });
    });

    const cases: Array<{ name: string; argv: string[]; output: RegExp }> = [
      { name: 'python3', argv: ['/usr/bin/python3', '-c', 'import json, sys; print("python", json.dumps(sys.version_info[0]))'], output: /^python 3$/ },
      { name: 'bash', argv: ['/bin/bash', '-c', 'declare -A m=([k]=v); echo "bash ${m[k]}"'], output: /^bash v$/ },
      { name: 'node', argv: ['/usr/bin/node', '-e', 'console.log("node", 1 + 1)'], output: /^node 2$/ },
    ];
    for (const { name, argv, output } of cases) {
      it(`runs ${name}`, async () => {
        const run = await runInSandbox(job, argv);

        assert.equal(run.process.exitCode, 0, run.process.stderr.toString());
        assert.match(run.process.stdout.toString().trim(), output);
      });
    }

    it('compiles and runs C with gcc', async () => {
      const build = await runInSandbox(job, ['/usr/bin/gcc', '-O1', '-o', '/job/main-c', 'main.c']);
      const run = await runInSandbox(job, ['/job/main-c']);

      assert.equal(build.process.exitCode, 0, build.process.stderr.toString());
      assert.equal(run.process.stdout.toString(), 'c 42\n');
    });

    it('compiles and runs C++ with g++', async () => {
      const build = await runInSandbox(job, ['/usr/bin/g++', '-O1', '-o', '/job/main-cpp', 'main.cpp']);
      const run = await runInSandbox(job, ['/job/main-cpp']);

      assert.equal(build.process.exitCode, 0, build.process.stderr.toString());
      assert.equal(run.process.stdout.toString(), 'c++ 2\n');
    });

    it('names the user with identity files', async () => {
      const identityFiles = await writeIdentityFiles(join(root, 'identity-2'), job.user.uid, job.user.gid);
      const userInfo = ['/usr/bin/node', '-e', 'console.log(require("os").userInfo().username)'];
      const named = await runInSandbox(job, userInfo, { identityFiles });
      const unnamed = await runInSandbox(job, userInfo);

      assert.equal(named.process.stdout.toString(), 'job\n');
      assert.notEqual(unnamed.process.exitCode, 0);
    });
  });

  describe('secrets and writes', () => {
    let job: TestJob;

    before(async () => {
      process.env.FAAS_SECRET_FOR_TEST = 'secret-value-4711';
      job = await makeTestJob(root, 2);
    });

    it('hides the worker environment', async () => {
      const run = await runInSandbox(job, ['/bin/sh', '-c', 'env; cat /proc/*/environ']);
      const output = run.process.stdout.toString();

      assert.doesNotMatch(output, /FAAS_SECRET_FOR_TEST|secret-value-4711/);
      assert.match(output, /HOME=\/job\/home/);
    });

    it('cannot read /root or host secrets', async () => {
      const reads = ['/root', '/etc/shadow', '/etc/ssl/private', '/work', '/home'];
      for (const path of reads) {
        const run = await runInSandbox(job, ['/bin/ls', '-a', path]);
        assert.notEqual(run.process.exitCode, 0, `${path} is readable: ${run.process.stdout}`);
      }
    });

    it('sees only its own pid 1', async () => {
      const run = await runInSandbox(job, ['/bin/sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; ls /proc | grep -c "^[0-9]"']);
      const [cmdline, count] = run.process.stdout.toString().trim().split('\n');

      assert.match(cmdline, /^bwrap/);
      assert.ok(Number(count) <= 4, `sees ${count} processes`);
    });

    it('sees a host name of its own', async () => {
      const run = await runInSandbox(job, ['/bin/sh', '-c', 'cat /proc/sys/kernel/hostname']);
      assert.equal(run.process.stdout.toString(), 'faas-job\n');
    });

    it('cannot write outside the job folder', async () => {
      const targets = ['/usr/faas-test-write', '/etc/faas-test-write', '/etc/ld.so.cache', '/faas-test-write', '/proc/sys/kernel/hostname'];
      for (const target of targets) {
        const run = await runInSandbox(job, ['/bin/sh', '-c', `echo x > ${target}`]);
        assert.notEqual(run.process.exitCode, 0, `wrote ${target}`);
      }
      for (const target of ['/usr/faas-test-write', '/etc/faas-test-write', '/faas-test-write']) {
        assert.equal(existsSync(target), false, `${target} exists on the host`);
      }
      const inside = await runInSandbox(job, ['/bin/sh', '-c', 'echo x > /job/ok && echo x > /tmp/ok']);
      assert.equal(inside.process.exitCode, 0, inside.process.stderr.toString());
    });
  });
});
