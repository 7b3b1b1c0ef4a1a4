import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { FailureReason, JobPhase, JobState, LogStream, type Job } from '../gen/faas/v1/job.js';
import { connect } from '@nats-io/transport-node';
import type { FaasClient } from '../client/client.js';
import { sweepFinishedJobs } from '../services/scheduler/retention.js';
import { Mesh, finalRecord, rejection, waitFor } from './harness.js';

/** Returns the pids of live processes whose command line is exactly `argv`. */
async function processesWithArguments(argv: string[]): Promise<number[]> {
  const wanted = `${argv.join('\0')}\0`;
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const zombie = stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
    if (cmdline === wanted && !zombie) pids.push(Number(name));
  }
  return pids;
}

async function logText(mesh: Mesh, jobId: string, offset = 0): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of mesh.client.logs(jobId, { offset })) parts.push(chunk.data);
  return Buffer.concat(parts).toString();
}

describe('jobs end to end', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 2, slots: 2 });
  });
  after(async () => {
    await mesh?.stop();
  });

  describe('convention entrypoints', () => {
    const cases: Array<[string, Record<string, string>, string]> = [
      ['main.py', { 'main.py': 'import sys\nprint("py", sys.argv[1:])\n' }, "py ['a1']"],
      ['main.sh', { 'main.sh': 'echo "sh $1"\n' }, 'sh a1'],
      ['main.c', { 'main.c': '#include <stdio.h>\nint main(int c, char **v) { printf("c %s\\n", v[1]); return 0; }\n' }, 'c a1'],
      [
        'main.cpp',
        { 'main.cpp': '#include <iostream>\nint main(int c, char **v) { std::cout << "cpp " << v[1] << std::endl; }\n' },
        'cpp a1',
      ],
      ['main.js', { 'main.js': 'console.log("js", process.argv[2]);\n' }, 'js a1'],
    ];
    for (const [name, files, expected] of cases) {
      it(`runs ${name}`, async () => {
        const repo = await mesh.repository(files);
        const { job } = await mesh.client.submit({ repositoryUrl: repo.url, args: ['a1'] });
        const done = await finalRecord(mesh, job!.id);
        assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
        assert.equal(done.commitSha, repo.commitSha);
        assert.equal(done.entrypoint, name);
        const { result } = await mesh.client.result(job!.id);
        assert.equal(result!.stdout.toString().trim(), expected);
        assert.equal(result!.exitCode, 0);
        assert.equal(result!.entrypoint, name);
      });
    }

    it('builds C before running it', async () => {
      const repo = await mesh.repository({ 'main.c': 'int main(void) { return 0; }\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      const phases: JobPhase[] = [];
      for await (const update of mesh.client.watch(job!.id)) {
        if (update.state === JobState.JOB_STATE_RUNNING) phases.push(update.phase);
      }
      assert.ok(phases.includes(JobPhase.JOB_PHASE_BUILDING), `phases were ${phases.join(',')}`);
      assert.ok(phases.indexOf(JobPhase.JOB_PHASE_BUILDING) < phases.lastIndexOf(JobPhase.JOB_PHASE_RUNNING));
      const { result } = await mesh.client.result(job!.id);
      assert.ok(result!.buildMs > 0);
    });

    it('fails a C build with the compiler output', async () => {
      const repo = await mesh.repository({ 'main.c': 'int main(void) { return missing; }\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      const done = await finalRecord(mesh, job!.id);
      assert.equal(done.state, JobState.JOB_STATE_FAILED);
      assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_BUILD_FAILED);
      const { result } = await mesh.client.result(job!.id);
      assert.match(result!.stderr.toString(), /missing/);
    });

    it('fails without an entrypoint and lists what it looked for', async () => {
      const repo = await mesh.repository({ 'README.md': 'nothing to run\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      const done = await finalRecord(mesh, job!.id);
      assert.equal(done.state, JobState.JOB_STATE_FAILED);
      assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_NO_ENTRYPOINT);
      for (const name of ['main.py', 'main.sh', 'main.c', 'main.cpp', 'main.js']) assert.match(done.error!.message, new RegExp(name));
    });
  });

  describe('job spec', () => {
    it('runs a command with arguments and environment', async () => {
      const repo = await mesh.repository({ 'tool.sh': 'echo "$GREETING, $1 and $2"\n', 'main.py': 'print("not me")\n' });
      const { job } = await mesh.client.submit({
        repositoryUrl: repo.url,
        command: ['bash', 'tool.sh', 'first'],
        args: ['second'],
        env: { GREETING: 'hello' },
      });
      const done = await finalRecord(mesh, job!.id);
      assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
      assert.equal(done.entrypoint, '', 'a command is no convention file');
      const { result } = await mesh.client.result(job!.id);
      assert.equal(result!.stdout.toString(), 'hello, first and second\n');
    });

    it('passes the input on stdin', async () => {
      const repo = await mesh.repository({ 'main.py': 'import sys, json\nprint(json.load(sys.stdin)["n"] * 2)\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url, input: Buffer.from('{"n": 21}') });
      assert.equal(job!.inputSizeBytes, 9);
      await finalRecord(mesh, job!.id);
      const { result } = await mesh.client.result(job!.id);
      assert.equal(result!.stdout.toString(), '42\n');
    });

    it('checks out a branch, a tag and a commit', async () => {
      const repo = await mesh.repository(
        { 'main.sh': 'echo main\n' },
        { tags: ['v1.0'], extraBranches: { feature: { 'main.sh': 'echo feature\n' } } },
      );
      for (const [ref, expected] of [['feature', 'feature'], ['v1.0', 'main'], [repo.commitSha, 'main'], ['', 'main']]) {
        const { job } = await mesh.client.submit({ repositoryUrl: repo.url, ref });
        const done = await finalRecord(mesh, job!.id);
        assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, `ref ${ref}: ${done.error?.message}`);
        const { result } = await mesh.client.result(job!.id);
        assert.equal(result!.stdout.toString().trim(), expected, `ref ${ref}`);
      }
    });

    it('reports a non-zero exit as FAILED with its code', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo oops >&2\nexit 3\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      const done = await finalRecord(mesh, job!.id);
      assert.equal(done.state, JobState.JOB_STATE_FAILED);
      assert.equal(done.exitCode, 3);
      assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_NON_ZERO_EXIT);
      const { result } = await mesh.client.result(job!.id);
      assert.equal(result!.exitCode, 3);
      assert.equal(result!.stderr.toString(), 'oops\n');
    });

    it('reports signals apart from exit codes', async () => {
      const repo = await mesh.repository({ 'crash.sh': 'kill -SEGV $$\n', 'exit.sh': 'exit 139\n' });
      const crashed = await mesh.client.submit({ repositoryUrl: repo.url, command: ['sh', 'crash.sh'] });
      const exited = await mesh.client.submit({ repositoryUrl: repo.url, command: ['sh', 'exit.sh'] });

      const crash = await finalRecord(mesh, crashed.job!.id);
      assert.equal(crash.state, JobState.JOB_STATE_FAILED);
      assert.equal(crash.error!.reason, FailureReason.FAILURE_REASON_SIGNALED, crash.error!.message);
      assert.equal(crash.error!.message, 'ended by signal SIGSEGV');
      assert.equal(crash.exitCode, undefined);
      assert.equal(crash.signal, 'SIGSEGV');
      const crashResult = (await mesh.client.result(crash.id)).result!;
      assert.deepEqual([crashResult.exitCode, crashResult.signal], [undefined, 'SIGSEGV']);

      const exit = await finalRecord(mesh, exited.job!.id);
      assert.equal(exit.error!.reason, FailureReason.FAILURE_REASON_NON_ZERO_EXIT);
      assert.deepEqual([exit.exitCode, exit.signal], [139, '']);
    });

    it('times out and leaves no process behind', async () => {
      // Distinct sleep arguments mark the job's processes in the host's /proc.
      const repo = await mesh.repository({ 'main.sh': 'sleep 317 &\nsleep 318\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url, timeoutSeconds: 1 });
      const running = async () => (await processesWithArguments(['sleep', '317'])).length + (await processesWithArguments(['sleep', '318'])).length;
      await waitFor(async () => (await running()) === 2, 10_000, 'both sleeps to start');
      const done = await finalRecord(mesh, job!.id);
      assert.equal(done.state, JobState.JOB_STATE_TIMED_OUT);
      assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_TIMED_OUT);
      assert.equal(await running(), 0, 'a process of the job outlived it');
    });

    it('fails a repository that cannot be cloned', async () => {
      const { job } = await mesh.client.submit({ repositoryUrl: `${mesh.git.url}/missing.git` });
      const done = await finalRecord(mesh, job!.id);
      assert.equal(done.state, JobState.JOB_STATE_FAILED);
      assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_CLONE_FAILED);
      assert.match(done.error!.message, /missing\.git/);
    });

    it('fails a ref that does not exist', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo hi\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url, ref: 'no-such-branch' });
      const done = await finalRecord(mesh, job!.id);
      assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_CLONE_FAILED);
      assert.match(done.error!.message, /ref "no-such-branch" was not found/);
    });
  });

  describe('validation', () => {
    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ['unsupported scheme', { repositoryUrl: 'ftp://example.com/repo.git' }, /repository_url.*scheme "ftp"/],
      ['file URL', { repositoryUrl: 'file:///etc/repo' }, /repository_url/],
      ['credentials in URL', { repositoryUrl: 'https://user:secret@example.com/r.git' }, /credentials/],
      ['malformed ref', { ref: 'bad..ref' }, /spec\.ref/],
      ['option-like ref', { ref: '--upload-pack=evil' }, /spec\.ref/],
      ['oversized input', { input: Buffer.alloc(1024 * 1024 + 1) }, /spec\.input/],
      ['oversized argument', { args: ['x'.repeat(5000)] }, /spec\.args\[0\]/],
      ['bad environment name', { env: { 'BAD-NAME': 'x' } }, /spec\.env/],
      ['excessive timeout', { timeoutSeconds: 100_000 }, /timeout_seconds/],
      ['bad idempotency key', { idempotencyKey: 'has space' }, /idempotency_key/],
    ];
    for (const [name, fields, message] of bad) {
      it(`rejects ${name} and queues nothing`, async () => {
        const { jsm, names } = mesh.scheduler.context.nats;
        const before = await jsm.streams.info(names.jobStream);
        const error = await rejection(mesh.client.submit({ repositoryUrl: 'https://example.com/repo.git', ...fields }));
        assert.equal(error.codeName, 'INVALID_ARGUMENT');
        assert.match(error.message, message);
        const after = await jsm.streams.info(names.jobStream);
        assert.equal(after.state.last_seq, before.state.last_seq);
      });
    }

    it('returns NOT_FOUND for an unknown id', async () => {
      const error = await rejection(mesh.client.status('01m91b01wz8s5a18m05n5v22tt'));
      assert.equal(error.codeName, 'NOT_FOUND');
    });

    it('rejects a bad page size or page token for List', async () => {
      const size = await rejection(mesh.client.list({ pageSize: 501 }));
      assert.equal(size.codeName, 'INVALID_ARGUMENT');
      assert.match(size.message, /page_size: is 501; use 1 to 500/);
      const token = await rejection(mesh.client.list({ pageToken: 'garbage' }));
      assert.equal(token.codeName, 'INVALID_ARGUMENT');
      assert.match(token.message, /page_token: "garbage" is not a token from a previous page; pass next_page_token/);
    });

    it('returns INVALID_ARGUMENT for a malformed id', async () => {
      for (const id of ['not-an-id', '../../etc', 'a..b', '']) {
        const error = await rejection(mesh.client.status(id));
        assert.equal(error.codeName, 'INVALID_ARGUMENT', `id ${JSON.stringify(id)}`);
        assert.match(error.message, /job_id/);
      }
    });
  });

  describe('following a job', () => {
    it('watch replays stored versions with their times', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo done\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      const done = await finalRecord(mesh, job!.id);
      const versions: Job[] = [];
      for await (const update of mesh.client.watch(job!.id)) versions.push(update);

      assert.deepEqual(versions.map((version) => version.state), [
        JobState.JOB_STATE_QUEUED,
        ...versions.slice(1, -1).map(() => JobState.JOB_STATE_RUNNING),
        JobState.JOB_STATE_SUCCEEDED,
      ]);
      assert.ok(versions.length >= 3, `${versions.length} versions`);
      assert.equal(versions[0].updatedAt?.getTime(), done.createdAt!.getTime());
      for (let index = 1; index < versions.length; index++) {
        assert.ok(versions[index].updatedAt! >= versions[index - 1].updatedAt!, `version ${index} is older than the one before`);
      }
      const finished = versions.at(-1)!;
      assert.ok(finished.updatedAt! >= finished.finishedAt!);
      assert.ok(finished.updatedAt!.getTime() - finished.finishedAt!.getTime() < 1_000);
    });

    it('watch sees QUEUED, RUNNING and SUCCEEDED in order', async () => {
      assert.deepEqual(await watchedStates(mesh), [JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_SUCCEEDED]);
      assert.ok(mesh.scheduler.context.records, 'the scheduler follows records with a consumer per Watch');
    });

    it('deletes the job folder after the outcome', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo done\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      await finalRecord(mesh, job!.id);
      const folders = () => [0, 1].flatMap((index) => (existsSync(mesh.workerDir(index)) ? readdirSync(mesh.workerDir(index)) : []));
      const deadline = Date.now() + 5_000;
      while (folders().some((name) => name.startsWith(job!.id)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(folders().filter((name) => name.startsWith(job!.id)), []);
    });

    it('logs replay the whole output and resume from an offset', async () => {
      const script = 'for i in $(seq 1 200); do echo "out line $i"; echo "err line $i" >&2; done\n';
      const repo = await mesh.repository({ 'main.sh': script });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      await finalRecord(mesh, job!.id);

      const chunks = [];
      for await (const chunk of mesh.client.logs(job!.id)) chunks.push(chunk);
      let expectedOffset = 0;
      for (const chunk of chunks) {
        assert.equal(chunk.offset, expectedOffset);
        assert.equal(chunk.attempt, 1);
        expectedOffset += chunk.data.length;
      }
      const stdout = Buffer.concat(chunks.filter((c) => c.stream === LogStream.LOG_STREAM_STDOUT).map((c) => c.data)).toString();
      const stderr = Buffer.concat(chunks.filter((c) => c.stream === LogStream.LOG_STREAM_STDERR).map((c) => c.data)).toString();
      const { result } = await mesh.client.result(job!.id);
      assert.equal(stdout, result!.stdout.toString());
      assert.equal(stderr, result!.stderr.toString());
      assert.equal(expectedOffset, Number(result!.outputBytes));

      const whole = Buffer.concat(chunks.map((c) => c.data));
      const middle = Math.floor(whole.length / 2) + 3;
      assert.equal(await logText(mesh, job!.id, middle), whole.subarray(middle).toString());
    });

    it('follows logs live until the job ends', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo first\nsleep 1\necho second\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      const seen: string[] = [];
      for await (const chunk of mesh.client.logs(job!.id, { follow: true })) seen.push(chunk.data.toString());
      assert.equal(seen.join(''), 'first\nsecond\n');
      const status = await mesh.client.status(job!.id);
      assert.equal(status.state, JobState.JOB_STATE_SUCCEEDED);
    });

    it('returns FAILED_PRECONDITION for the result of a running job', async () => {
      const repo = await mesh.repository({ 'main.sh': 'sleep 30\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      const error = await rejection(mesh.client.result(job!.id));
      assert.equal(error.codeName, 'FAILED_PRECONDITION');
      await mesh.client.cancel(job!.id);
      await finalRecord(mesh, job!.id);
    });
  });

  describe('idempotency', () => {
    it('returns one job for two submits with the same key', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo once\n' });
      const spec = { repositoryUrl: repo.url, idempotencyKey: 'order-1234' };
      const first = await mesh.client.submit(spec);
      const second = await mesh.client.submit(spec);
      assert.equal(second.job!.id, first.job!.id);
      assert.equal(first.existing, false);
      assert.equal(second.existing, true);
      await finalRecord(mesh, first.job!.id);
      const third = await mesh.client.submit(spec);
      assert.equal(third.job!.id, first.job!.id);
    });

    it('rejects the same key with a different spec', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo once\n' });
      const first = await mesh.client.submit({ repositoryUrl: repo.url, idempotencyKey: 'order-5678' });
      const error = await rejection(mesh.client.submit({ repositoryUrl: repo.url, idempotencyKey: 'order-5678', args: ['other'] }));
      assert.equal(error.codeName, 'ALREADY_EXISTS');
      assert.match(error.message, new RegExp(`already used for job ${first.job!.id} with a different spec`));
    });

    it('matches a retry spelling out defaults', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo once\n' });
      const first = await mesh.client.submit({ repositoryUrl: repo.url, idempotencyKey: 'order-defaults', env: { A: '1', B: '2' } });
      const { defaultTimeoutSeconds, maxAttempts } = mesh.scheduler.context.config;
      const second = await mesh.client.submit({
        repositoryUrl: repo.url,
        idempotencyKey: 'order-defaults',
        env: { B: '2', A: '1' },
        timeoutSeconds: defaultTimeoutSeconds,
        retry: { maxAttempts, retryFailedRuns: false },
      });
      assert.equal(second.job!.id, first.job!.id);
      assert.equal(second.existing, true);
      await finalRecord(mesh, first.job!.id);
    });

    it('keeps keys of different owners apart', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo once\n' });
      const spec = { repositoryUrl: repo.url, idempotencyKey: 'shared-key' };
      const mine = await mesh.client.submit(spec);
      const theirs = await (await mesh.clientFor('bob')).submit(spec);
      assert.notEqual(theirs.job!.id, mine.job!.id);
      assert.equal(theirs.existing, false);
    });
  });

  describe('cancel', () => {
    it('kills a running job', async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo started\nsleep 300\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      for await (const chunk of mesh.client.logs(job!.id, { follow: true })) {
        if (chunk.data.toString().includes('started')) break;
      }
      const cancelled = await mesh.client.cancel(job!.id, 'no longer needed');
      assert.equal(cancelled.cancelRequested || cancelled.state === JobState.JOB_STATE_CANCELLED, true);
      const done = await finalRecord(mesh, job!.id);
      assert.equal(done.state, JobState.JOB_STATE_CANCELLED);
      assert.equal(done.error!.reason, FailureReason.FAILURE_REASON_CANCELLED);
      // The worker only stops the job; the record keeps the caller's reason.
      assert.match(done.error!.message, /^cancelled by \S+: no longer needed$/);
    });

    it('rejects cancelling a finished job', async () => {
      const repo = await mesh.repository({ 'main.sh': 'true\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
      await finalRecord(mesh, job!.id);
      const error = await rejection(mesh.client.cancel(job!.id));
      assert.equal(error.codeName, 'FAILED_PRECONDITION');
    });
  });

  describe('list', () => {
    it('pages through jobs newest first and filters by state', async () => {
      const repo = await mesh.repository({ 'main.sh': 'exit 0\n' });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await mesh.client.submit({ repositoryUrl: repo.url })).job!.id);
      for (const id of ids) await finalRecord(mesh, id);

      const first = await mesh.client.list({ pageSize: 2 });
      assert.equal(first.jobs.length, 2);
      assert.deepEqual(first.jobs.map((j) => j.id), [ids[4], ids[3]]);
      const second = await mesh.client.list({ pageSize: 2, pageToken: first.nextPageToken });
      assert.deepEqual(second.jobs.map((j) => j.id), [ids[2], ids[1]]);

      const failed = await mesh.client.list({ state: JobState.JOB_STATE_FAILED, pageSize: 500 });
      assert.ok(failed.jobs.length > 0);
      assert.ok(failed.jobs.every((j) => j.state === JobState.JOB_STATE_FAILED));
      assert.ok(!failed.jobs.some((j) => ids.includes(j.id)));
    });
  });
});

describe('queued jobs', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 0, scheduler: { duplicateWindowMs: 1_000 } });
  });

  it('keeps an idempotency key past the de-duplication window', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo once\n' });
    const spec = { repositoryUrl: repo.url, idempotencyKey: 'after-the-window' };
    const first = await mesh.client.submit(spec);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const second = await mesh.client.submit(spec);
    assert.equal(second.job!.id, first.job!.id);
    assert.equal(second.existing, true);
    await mesh.client.cancel(first.job!.id);
  });
  after(async () => {
    await mesh?.stop();
  });

  it('lists queued and finished jobs', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo listed\n' });
    const stillQueued = (await mesh.client.submit({ repositoryUrl: repo.url })).job!;
    const cancelled = (await mesh.client.submit({ repositoryUrl: repo.url })).job!;
    const { index } = mesh.scheduler.context.nats;
    const indexKeys = async () => {
      const keys: string[] = [];
      for (const filter of ['o.>', 'f.>']) {
        for await (const key of await index.keys(filter)) keys.push(key);
      }
      return keys;
    };
    const listedIds = async (state?: JobState) => (await mesh.client.list({ state, pageSize: 500 })).jobs.map((job) => job.id);
    assert.equal((await indexKeys()).filter((key) => key.endsWith(stillQueued.id)).length, 0, 'a queued job has no index entry');
    assert.deepEqual((await listedIds(JobState.JOB_STATE_QUEUED)).filter((id) => id === stillQueued.id || id === cancelled.id), [cancelled.id, stillQueued.id]);

    await mesh.client.cancel(cancelled.id);
    assert.ok(!(await listedIds(JobState.JOB_STATE_QUEUED)).includes(cancelled.id));
    assert.ok((await listedIds(JobState.JOB_STATE_CANCELLED)).includes(cancelled.id));
    assert.deepEqual((await listedIds()).filter((id) => id === stillQueued.id || id === cancelled.id), [cancelled.id, stillQueued.id]);

    // Earlier versions indexed queued jobs too; List drops such an entry once its job has moved on.
    const legacyKey = `o.${Buffer.from(cancelled.owner).toString('base64url')}.queued.${cancelled.id}`;
    await index.put(legacyKey, new Uint8Array());
    assert.ok(!(await listedIds(JobState.JOB_STATE_QUEUED)).includes(cancelled.id));
    assert.ok(!(await indexKeys()).includes(legacyKey));
    await mesh.client.cancel(stillQueued.id);
  });

  it('checks Watch ownership without a read', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo unused\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const jobId = job!.id;
    const { nats } = mesh.scheduler.context;
    const spyConnection = await connect({ servers: mesh.nats.url });
    let reads = 0;
    // KV reads of the job bucket, by key.
    const spy = spyConnection.subscribe(`$JS.API.DIRECT.GET.KV_${nats.names.jobsBucket}.>`, { callback: () => void reads++ });
    await spyConnection.flush();
    const firstVersion = async (client: FaasClient) => {
      for await (const version of client.watch(jobId)) return version;
      return undefined;
    };
    try {
      // Status reads the record, which shows that the spy counts reads.
      await mesh.client.status(jobId);
      await spyConnection.flush();
      assert.equal(reads, 1);

      assert.equal((await firstVersion(mesh.client))?.state, JobState.JOB_STATE_QUEUED);
      const bob = await mesh.clientFor('bob');
      assert.equal((await rejection(firstVersion(bob))).codeName, 'NOT_FOUND');
      await spyConnection.flush();
      assert.equal(reads, 1, 'Watch read the record');

      // Once the job is deleted, Watch reports it missing.
      await mesh.client.cancel(jobId);
      assert.ok((await sweepFinishedJobs(mesh.scheduler.context, 0)) >= 1);
      assert.equal((await rejection(firstVersion(mesh.client))).codeName, 'NOT_FOUND');
    } finally {
      spy.unsubscribe();
      await spyConnection.close();
    }
  });

  it('cancels a queued job, which never starts', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo ran\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const cancelled = await mesh.client.cancel(job!.id);
    assert.equal(cancelled.state, JobState.JOB_STATE_CANCELLED);

    await mesh.addWorker();
    const other = await mesh.client.submit({ repositoryUrl: repo.url });
    const done = await finalRecord(mesh, other.job!.id);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED);
    const status = await mesh.client.status(job!.id);
    assert.equal(status.state, JobState.JOB_STATE_CANCELLED);
    assert.equal(status.attempt, 0);
    assert.equal(await logText(mesh, job!.id), '');
    const error = await rejection(mesh.client.result(job!.id));
    assert.equal(error.codeName, 'FAILED_PRECONDITION');
    assert.match(error.message, new RegExp(`^job ${job!.id} was cancelled before a worker ran it, so it has no result \\(cancelled by \\S+\\)$`));
  });
});

describe('a job bucket made without republishing', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ bucketWithoutRepublish: true });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('still streams every state on Watch', async () => {
    assert.deepEqual(await watchedStates(mesh), [JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_SUCCEEDED]);
    assert.equal(mesh.scheduler.context.records, undefined, 'the scheduler follows records by republishing');
  });
});

/** Runs a job that prints a line and returns the states Watch streamed for it, each once. */
async function watchedStates(mesh: Mesh): Promise<JobState[]> {
  const repo = await mesh.repository({ 'main.sh': 'echo done\n' });
  const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
  const states: JobState[] = [];
  for await (const update of mesh.client.watch(job!.id)) {
    if (states.at(-1) !== update.state) states.push(update.state);
  }
  return states;
}
