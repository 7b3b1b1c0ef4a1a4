import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, open, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanUpTests, makeTestJob, runInSandbox, sandboxUnavailable } from './test-support.js';
import { prepareJobDir, sandboxUser, writeIdentityFiles } from './users.js';

describe('sandboxUser', () => {
  it('maps slots to ids', () => {
    assert.deepEqual(sandboxUser(0), { uid: 61000, gid: 61000 });
    assert.deepEqual(sandboxUser(7), { uid: 61007, gid: 61007 });
    assert.deepEqual(sandboxUser(1, 20000), { uid: 20001, gid: 20001 });
  });

  it('rejects bad slots', () => {
    assert.throws(() => sandboxUser(-1), /invalid slot -1/);
    assert.throws(() => sandboxUser(1.5), /invalid slot 1.5/);
    assert.throws(() => sandboxUser(0, 0), /invalid uid base 0/);
    assert.throws(() => sandboxUser(4534), /above 65533/);
  });
});

const root = `/tmp/faas-sandbox-users-${process.pid}`;

describe('job folders', function () {
  before(async function () {
    const reason = await sandboxUnavailable();
    if (reason) {
      console.log(`skipped: ${reason}`);
      this.skip();
    }
    await mkdir(root, { recursive: true, mode: 0o755 });
  });

  after(() => cleanUpTests(root));

  it('prepareJobDir hands the tree over', async () => {
    const jobDir = await mkdtemp(join(root, 'tree-'));
    await mkdir(join(jobDir, 'src', 'deep'), { recursive: true });
    await writeFile(join(jobDir, 'src', 'deep', 'file'), 'x');
    const outside = join(root, `outside-${Date.now()}`);
    await writeFile(outside, 'host file');
    // A cloned repository can hold a link to any host file.
    await symlink(outside, join(jobDir, 'src', 'link'));
    await prepareJobDir(jobDir, 61009, 61009);

    assert.equal((await stat(jobDir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(jobDir, 'src', 'deep', 'file'))).uid, 61009);
    assert.equal((await lstat(join(jobDir, 'src', 'link'))).uid, 61009);
    assert.equal((await stat(outside)).uid, 0, 'the link target keeps its owner');
  });

  it('prepareJobDir rejects a closed ancestor', async () => {
    const closed = await mkdtemp(join(root, 'closed-'));
    await chmod(closed, 0o700);
    await mkdir(join(closed, 'job'));

    await assert.rejects(prepareJobDir(join(closed, 'job'), 61009, 61009), /not searchable by other users/);
  });

  it('writeIdentityFiles names the user', async () => {
    const files = await writeIdentityFiles(join(root, 'identity'), 61009, 61010);

    assert.match(await readFile(files.passwd, 'utf8'), /^job:x:61009:61010:/);
    assert.match(await readFile(files.group, 'utf8'), /^job:x:61010:/);
    assert.equal((await stat(files.passwd)).uid, 0);
  });

  it('writeIdentityFiles replaces files whole', async () => {
    const folder = join(root, 'identity-shared');
    const files = await writeIdentityFiles(folder, 61011, 61011);
    // A job of another worker that shares the folder keeps the files open while they are written again.
    const mounted = await open(files.passwd, 'r');
    try {
      await writeIdentityFiles(folder, 61011, 61011);
      assert.match(await mounted.readFile('utf8'), /^job:x:61011:61011:/);
      assert.notEqual((await stat(files.passwd)).ino, (await mounted.stat()).ino);
    } finally {
      await mounted.close();
    }
    assert.deepEqual((await readdir(folder)).sort(), ['group', 'passwd']);
  });

  it('two slots cannot see each other', async () => {
    const first = await makeTestJob(root, 4, (workDir) => writeFile(join(workDir, 'secret'), 'first slot secret'));
    const second = await makeTestJob(root, 5);
    const firstSecret = join(first.workDir, 'secret');

    // The first job stays alive while the second looks for it.
    const firstRun = runInSandbox(first, ['/bin/sh', '-c', 'echo started > /job/started; sleep 2; cat secret']);
    const started = Date.now();
    while (Date.now() - started < 5_000) {
      const seen = await stat(join(first.jobDir, 'started')).catch(() => undefined);
      if (seen) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const look = [
      'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done',
      `cat ${firstSecret} && echo "read-$((1 + 1))"`,
      'cat /job/../*/src/secret && echo "read-$((1 + 2))"',
    ].join('\n');
    const secondRun = await runInSandbox(second, ['/bin/sh', '-c', look]);
    const firstResult = await firstRun;

    assert.equal(firstResult.process.stdout.toString(), 'first slot secret');
    assert.doesNotMatch(secondRun.process.stdout.toString(), /sleep 2|first slot secret|read-[23]/);

    // On the host, the second slot's uid cannot read the first slot's folder either.
    const hostRead = spawnSync('setpriv', ['--reuid=61005', '--regid=61005', '--clear-groups', '--', '/bin/cat', firstSecret], { encoding: 'utf8', timeout: 5_000 });
    assert.notEqual(hostRead.status, 0);
    assert.match(hostRead.stderr, /Permission denied/);
  });
});
