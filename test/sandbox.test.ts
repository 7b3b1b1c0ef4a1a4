import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailureReason, JobState } from '../gen/faas/v1/job.js';
import { Mesh, finalRecord } from './harness.js';

const MiB = 1024 * 1024;

/** Runs a repository of `files` as a job and returns its final record and result. */
async function run(mesh: Mesh, files: Record<string, string>, spec: Record<string, unknown> = {}) {
  const repo = await mesh.repository(files);
  const { job } = await mesh.client.submit({ repositoryUrl: repo.url, timeoutSeconds: 20, ...spec });
  const done = await finalRecord(mesh, job!.id);
  const { result } = await mesh.client.result(job!.id);
  return { done, result: result!, stdout: result!.stdout.toString(), stderr: result!.stderr.toString() };
}

/** Runs `script` as main.sh, cancels the job once it printed "started", and returns its final record and stdout. */
async function cancelOnceStarted(mesh: Mesh, script: string) {
  const repo = await mesh.repository({ 'main.sh': script });
  const { job } = await mesh.client.submit({ repositoryUrl: repo.url, timeoutSeconds: 60 });
  let seen = '';
  for await (const chunk of mesh.client.logs(job!.id, { follow: true })) {
    seen += chunk.data.toString();
    if (seen.includes('started\n')) break;
  }
  assert.ok(seen.includes('started\n'), `the output ended without "started": ${JSON.stringify(seen)}`);
  await mesh.client.cancel(job!.id);
  const done = await finalRecord(mesh, job!.id);
  const { result } = await mesh.client.result(job!.id);
  return { done, stdout: result!.stdout.toString() };
}

describe('sandboxed jobs through the worker', function () {
  this.timeout(90_000);
  let mesh: Mesh;
  let listener: Server;
  let listenerPort: number;
  let connections = 0;

  before(async () => {
    process.env.FAAS_TEST_SECRET = 'worker-secret-value';
    mesh = await Mesh.start({ workers: 1, slots: 2, worker: { outputLimitBytes: 4 * MiB, outputCapBytes: 64 * 1024, stopGraceMs: 2_000 } });
    listener = createServer((socket) => {
      connections++;
      socket.end('hello from the host\n');
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    listenerPort = (listener.address() as { port: number }).port;
  });
  after(async () => {
    delete process.env.FAAS_TEST_SECRET;
    await new Promise((resolve) => listener?.close(resolve));
    await mesh?.stop();
  });

  it('reports isolation and resource use', async () => {
    const { done, result } = await run(mesh, { 'main.py': 'print(sum(range(10**6)))\n' });
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
    assert.equal(result.isolation, 'sandboxed');
    assert.ok(result.peakMemoryBytes > 0, 'no peak memory');
    assert.equal(result.appliedLimits!.memoryBytes, 512 * MiB);
    assert.equal(result.appliedLimits!.pids, 256);
  });

  it('caps requested limits at the worker maximum', async () => {
    const { done, result } = await run(mesh, { 'main.sh': 'true\n' }, { limits: { memoryBytes: 8 * 1024 * MiB, pids: 64 } });
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
    assert.equal(result.appliedLimits!.memoryBytes, 4 * 1024 * MiB);
    assert.equal(result.appliedLimits!.pids, 64);
    assert.match(result.stderr.toString(), /^faas: limits above this worker's maximums were lowered: memory 8 GiB to 4 GiB$/m);
    // The record names them too, from the moment the worker accepted the job.
    assert.deepEqual(done.appliedLimits, result.appliedLimits);
  });

  it('ends a memory hog as out of memory', async () => {
    // Allocates 16 MiB at a time and stops by itself at 2 GiB.
    const hog = 'chunks = []\nfor _ in range(128):\n    chunks.append(bytearray(16 * 1024 * 1024))\nprint("survived")\n';
    const { done, stdout } = await run(mesh, { 'main.py': hog }, { limits: { memoryBytes: 64 * MiB } });
    assert.equal(done.state, JobState.JOB_STATE_FAILED);
    assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_OUT_OF_MEMORY, done.error!.message);
    assert.equal(done.error!.message, 'ran out of its memory limit of 64 MiB and was killed; raise spec.limits.memory_bytes to give it more');
    assert.doesNotMatch(stdout, /survived/);
  });

  it('contains a fork bomb', async () => {
    // Forks until the kernel refuses, 5,000 at most; each child sleeps.
    const bomb = [
      'import os, sys, time',
      'count = 0',
      'while count < 5000:',
      '    try:',
      '        pid = os.fork()',
      '    except OSError:',
      '        print("fork refused after", count, flush=True)',
      '        os._exit(3)',
      '    if pid == 0:',
      '        time.sleep(60)',
      '        os._exit(0)',
      '    count += 1',
      'print("all forks worked")',
    ].join('\n');
    const { done, stdout } = await run(mesh, { 'main.py': bomb }, { limits: { pids: 32 } });
    assert.equal(done.state, JobState.JOB_STATE_FAILED);
    assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_PROCESS_LIMIT, done.error!.message);
    const forks = Number(/fork refused after (\d+)/.exec(stdout)?.[1]);
    assert.ok(forks < 32, `forked ${forks} times`);
  });

  it('stops an output flood at the output limit', async () => {
    const { done, result } = await run(mesh, { 'main.sh': 'head -c 100000000 /dev/zero | tr "\\0" x\n' });
    assert.equal(done.error?.reason, FailureReason.FAILURE_REASON_OUTPUT_LIMIT, done.error?.message);
    assert.equal(result.stdout.length, 64 * 1024);
    assert.equal(done.error!.message, 'the job wrote more than 4 MiB of output');
    assert.equal(result.stdoutTruncated, true);
    // The log keeps the output up to the limit, to the byte.
    let logged = 0;
    for await (const chunk of mesh.client.logs(done.id)) logged += chunk.data.length;
    assert.equal(logged, 4 * MiB);
  });

  it('stops a file-size bomb', async () => {
    // head dies of SIGXFSZ at the limit; the script exits with its status.
    const script = 'head -c 209715200 /dev/zero > big\nstatus=$?\nwc -c < big\nexit $status\n';
    const { done, stdout } = await run(mesh, { 'main.sh': script }, { limits: { fileSizeBytes: MiB } });
    assert.equal(done.state, JobState.JOB_STATE_FAILED);
    assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_FILE_SIZE_LIMIT, done.error!.message);
    assert.equal(done.error!.message, 'wrote a file larger than its limit of 1 MiB; raise spec.limits.file_size_bytes to allow larger files');
    assert.ok(Number(stdout.trim()) <= MiB, `the file grew to ${stdout.trim()} bytes`);
  });

  it('stops a job that fills its disk limit', async () => {
    // Four 8 MiB files, each under the file size limit, then a pause for the disk watcher.
    const script = 'for i in 1 2 3 4; do head -c 8388608 /dev/zero > "fill-$i"; done\nsleep 5\necho finished\n';
    const { done, stdout } = await run(mesh, { 'main.sh': script }, { limits: { diskBytes: 16 * MiB, fileSizeBytes: 16 * MiB } });
    assert.equal(done.state, JobState.JOB_STATE_FAILED);
    assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_DISK_LIMIT, done.error!.message);
    assert.equal(done.error!.message, 'the job folder grew past its disk limit of 16 MiB; raise spec.limits.disk_bytes to give it more');
    assert.doesNotMatch(stdout, /finished/);
  });

  it('fails a job that fills its disk limit and ends before a walk', async () => {
    // Done long before the watcher's first walk; the walk at the end of the step catches it.
    const script = 'for i in 1 2 3 4; do head -c 8388608 /dev/zero > "fill-$i"; done\necho finished\n';
    const { done, stdout } = await run(mesh, { 'main.sh': script }, { limits: { diskBytes: 16 * MiB, fileSizeBytes: 16 * MiB } });
    assert.equal(done.state, JobState.JOB_STATE_FAILED);
    assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_DISK_LIMIT, done.error!.message);
    assert.match(stdout, /finished/);
  });

  it('cannot reach a listener on the host loopback', async () => {
    const probe = [
      'import socket',
      'try:',
      `    socket.create_connection(("127.0.0.1", ${listenerPort}), timeout=3).recv(100)`,
      '    print("connected")',
      'except OSError as error:',
      '    print("blocked:", error)',
    ].join('\n');
    const before = connections;
    const { done, stdout } = await run(mesh, { 'main.py': probe });
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
    assert.match(stdout, /^blocked:/);
    assert.equal(connections, before);
  });

  it('cannot read the worker environment or certificates', async () => {
    const keyFile = mesh.certificates.services.worker.keyFile;
    const script = `env\necho ---\ncat ${keyFile} 2>&1 || echo "no key file"\ncat /proc/1/environ 2>/dev/null | tr "\\0" "\\n"\nls /root 2>&1 || echo "no root"\n`;
    const { stdout } = await run(mesh, { 'main.sh': script }, { env: { VISIBLE: 'yes' } });
    assert.doesNotMatch(stdout, /worker-secret-value|FAAS_TEST_SECRET/);
    assert.doesNotMatch(stdout, /BEGIN .*PRIVATE KEY/);
    assert.match(stdout, /VISIBLE=yes/);
    assert.match(stdout, /no key file/);
    assert.match(stdout, /no root/);
  });

  it('cannot write outside its folder', async () => {
    const script = [
      'for target in /usr/faas-test /etc/faas-test /faas-test /root/faas-test; do',
      '  if touch "$target" 2>/dev/null; then echo "wrote $target"; else echo "denied $target"; fi',
      'done',
      'touch /tmp/ok && echo "tmp ok"',
      'touch ./ok && echo "job folder ok"',
    ].join('\n');
    const { stdout } = await run(mesh, { 'main.sh': script });
    assert.doesNotMatch(stdout, /^wrote/m);
    assert.equal((stdout.match(/^denied/gm) ?? []).length, 4);
    assert.match(stdout, /tmp ok/);
    assert.match(stdout, /job folder ok/);
  });

  it("cannot see another running job's processes or files", async () => {
    const sleeper = await mesh.repository({ 'main.sh': 'echo secret-of-job-a > secret.txt\nsleep 319\n' });
    const first = await mesh.client.submit({ repositoryUrl: sleeper.url, timeoutSeconds: 30 });
    for await (const job of mesh.client.watch(first.job!.id)) if (job.state === JobState.JOB_STATE_RUNNING && job.phase === 3) break;

    const secret = join(mesh.workerDir(0), `${first.job!.id}-1`, 'src', 'secret.txt');
    const spy = `ps -eo pid,args 2>/dev/null || ls /proc\necho ---\ncat ${secret} 2>&1\ncat /job/../*/src/secret.txt 2>&1\necho done\n`;
    const { stdout } = await run(mesh, { 'main.sh': spy });
    assert.doesNotMatch(stdout, /sleep 319/);
    assert.doesNotMatch(stdout, /secret-of-job-a/);
    assert.match(stdout, /done/);
    await mesh.client.cancel(first.job!.id);
    await finalRecord(mesh, first.job!.id);
  });

  it('gives a cancelled job SIGTERM', async () => {
    const { done, stdout } = await cancelOnceStarted(mesh, "trap 'echo cleaning up; exit 3' TERM\necho started\nsleep 600 &\nwait\n");
    assert.equal(done.state, JobState.JOB_STATE_CANCELLED);
    assert.equal(stdout, 'started\ncleaning up\n');
  });

  it('gives a timed-out job SIGTERM', async () => {
    const { done, stdout } = await run(mesh, { 'main.sh': "trap 'echo saving; exit 0' TERM\nsleep 600 &\nwait\n" }, { timeoutSeconds: 1 });
    assert.equal(done.state, JobState.JOB_STATE_TIMED_OUT);
    assert.equal(stdout, 'saving\n');
  });

  it('kills a job that ignores SIGTERM', async () => {
    const { done, stdout } = await cancelOnceStarted(mesh, "trap '' TERM\necho started\nsleep 600\n");
    assert.equal(done.state, JobState.JOB_STATE_CANCELLED);
    assert.equal(stdout, 'started\n');
  });

  it('refuses network access the worker does not grant', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo hi\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url, network: true });
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.error?.reason, FailureReason.FAILURE_REASON_NETWORK_NOT_ALLOWED);
    assert.match(done.error!.message, /submit it without network access \(no --network\), or ask the operator for workers started with FAAS_ALLOW_NETWORK=true$/);
  });

  it('runs the jobs of two workers on one host as different uids', async () => {
    await mesh.addWorker({ slots: 2 });
    const repo = await mesh.repository({ 'main.sh': 'id -u\nsleep 2\n' });
    // Four jobs fill the four slots of the two workers at once.
    const ids = await Promise.all([1, 2, 3, 4].map(async () => (await mesh.client.submit({ repositoryUrl: repo.url })).job!.id));
    const uids: string[] = [];
    const workers = new Set<string>();
    for (const id of ids) {
      const done = await finalRecord(mesh, id);
      assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
      workers.add(done.workerId);
      uids.push((await mesh.client.result(id)).result!.stdout.toString().trim());
    }
    assert.equal(workers.size, 2);
    assert.equal(new Set(uids).size, 4, `uids ${uids.join(', ')}`);
  });

  it('refuses to start a worker that cannot claim sandbox uids', async () => {
    // A folder cannot be made below a file.
    const lockDir = join(mesh.workerDir(0), 'not-a-folder', 'locks');
    await writeFile(join(mesh.workerDir(0), 'not-a-folder'), '');
    await assert.rejects(mesh.addWorker({ worker: { sandboxLockDir: lockDir } }), /could not claim a block of sandbox uids: .*not-a-folder/);
  });
});

describe('repository address checks', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 1, worker: { allowedAddresses: [] } });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('refuses a loopback repository unless allowed', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo should not run\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const done = await finalRecord(mesh, job!.id);
    assert.equal(done.state, JobState.JOB_STATE_FAILED);
    assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_ADDRESS_NOT_ALLOWED);
    assert.match(done.error!.message, /127\.0\.0\.1.*loopback/);
  });
});
