import assert from 'node:assert/strict';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JobState } from '../gen/faas/v1/job.js';
import { readMeshTls } from '../common/tls.js';
import { readObserverConfig, type ObserverConfig } from '../services/observer/config.js';
import { startObserver, type RunningObserver } from '../services/observer/observer.js';
import { Mesh, finalRecord, waitFor } from './harness.js';

describe('local actuator', function () {
  this.timeout(90_000);
  let mesh: Mesh;
  let observer: RunningObserver | undefined;
  let config: ObserverConfig;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
    const workerCertificate = mesh.certificates.env('worker');
    config = {
      ...readObserverConfig({}),
      listenAddress: '127.0.0.1:0',
      natsUrl: mesh.nats.url,
      natsPrefix: mesh.scheduler.context.config.natsPrefix,
      schedulerAddress: mesh.scheduler.address,
      // Decisions are made by calling refresh() in the test.
      intervalMs: 600_000,
      slotsPerWorker: 1,
      minWorkers: 0,
      maxWorkers: 2,
      scaleUpDelayMs: 0,
      stableWindowMs: 2_000,
      actuator: 'local',
      stateDir: join(mesh.workerDir(0), 'observer'),
      stopWorkersOnExit: true,
      workerEnv: {
        ...workerCertificate,
        FAAS_SCHEDULER: mesh.scheduler.address,
        WORKER_SLOTS: '1',
        WORKER_WORK_DIR: join(mesh.workerDir(0), 'jobs'),
        FAAS_ALLOW_HTTP: 'true',
        FAAS_ALLOWED_ADDRESSES: '127.0.0.0/8,::1/128',
        WORKER_SHUTDOWN_GRACE: '30s',
        LOG_LEVEL: 'warn',
      },
      tls: readMeshTls(mesh.certificates.env('observer')),
    };
  });
  after(async () => {
    await observer?.stop();
    await mesh?.stop();
  });

  it('starts workers for a backlog and removes them once idle', async () => {
    observer = await startObserver(config, mesh.log);
    const repo = await mesh.repository({ 'main.sh': 'sleep 3\necho done\n' });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await mesh.client.submit({ repositoryUrl: repo.url })).job!.id);

    const first = await observer.refresh();
    assert.equal(first.desiredWorkers, 2, first.reason);
    assert.equal(observer.managedWorkers(), 2);
    // Workers still starting count as capacity, so a second decision starts no more.
    await observer.refresh();
    assert.equal(observer.managedWorkers(), 2);
    await waitFor(() => mesh.scheduler.context.pool.all().length === 2, 30_000, 'both workers to connect');

    // While jobs run, decisions never stop a busy worker.
    const done = Promise.all(ids.map((id) => finalRecord(mesh, id)));
    const refreshing = setInterval(() => void observer!.refresh().catch(() => undefined), 300);
    const records = await done;
    clearInterval(refreshing);
    for (const record of records) {
      assert.equal(record.state, JobState.JOB_STATE_SUCCEEDED, record.error?.message);
      if (record.attempt !== 1) assert.fail(`job ${record.id} was interrupted and ran ${record.attempt} attempts. ${await whyRepeated(record.id)}`);
    }

    // Idle, but within the stable window: the workers stay.
    const idle = await observer.refresh();
    assert.equal(idle.desiredWorkers, 2, idle.reason);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const down = await observer.refresh();
    assert.equal(down.desiredWorkers, 0, down.reason);
    await waitFor(() => mesh.scheduler.context.pool.all().length === 0, 30_000, 'idle workers to stop');
  });

  it('adopts its workers after a restart instead of starting more', async () => {
    const repo = await mesh.repository({ 'main.sh': 'sleep 4\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    await observer!.refresh();
    await waitFor(() => mesh.scheduler.context.pool.all().length === 1, 30_000, 'a worker to connect');

    // The worker writes its log file itself, so its log goes on when the observer is gone.
    const [record] = await readdir(join(config.stateDir, 'workers'));
    const { pid, workerId } = JSON.parse(await readFile(join(config.stateDir, 'workers', record), 'utf8')) as { pid: number; workerId: string };
    for (const fd of [1, 2]) assert.equal(await readlink(`/proc/${pid}/fd/${fd}`), join(config.stateDir, `${workerId}.log`));

    // A restart that keeps the workers, as after a crash.
    await stopKeepingWorkers(observer!);
    observer = await startObserver(config, mesh.log);
    assert.equal(observer.managedWorkers(), 1);
    await observer.refresh();
    assert.equal(observer.managedWorkers(), 1);
    assert.equal((await finalRecord(mesh, job!.id)).state, JobState.JOB_STATE_SUCCEEDED);
  });

  it('starts no worker once it is stopping', async () => {
    await observer!.stop();
    observer = undefined;
    const repo = await mesh.repository({ 'main.sh': 'sleep 1\n' });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    const stopping = await startObserver(config, mesh.log);
    // The decision reads the queue first, so the stop begins while it is in flight.
    const deciding = stopping.refresh();
    await stopping.stop();
    await deciding.catch(() => undefined);

    const left = await liveRecords();
    try {
      assert.deepEqual(left, [], 'a worker outlived the observer that started it');
    } finally {
      for (const { pid } of left) process.kill(pid, 'SIGKILL');
    }
    await mesh.client.cancel(job!.id);
  });

  it('removes worker records it cannot read', async () => {
    const folder = join(config.stateDir, 'workers');
    await writeFile(join(folder, 'vm-scaled-empty.json'), '');
    await writeFile(join(folder, 'vm-scaled-cut.json'), '{"workerId":"vm-scaled-cut","pi');
    await writeFile(join(folder, 'vm-scaled-left.json.tmp'), '{}');
    observer = await startObserver(config, mesh.log);
    const names = await readdir(folder);
    for (const name of ['vm-scaled-empty.json', 'vm-scaled-cut.json', 'vm-scaled-left.json.tmp']) assert.ok(!names.includes(name), `${name} is still there`);
  });

  /** Returns the worker records whose process is alive. */
  async function liveRecords(): Promise<Array<{ pid: number; workerId: string }>> {
    const live = [];
    for (const name of await readdir(join(config.stateDir, 'workers'))) {
      const record = JSON.parse(await readFile(join(config.stateDir, 'workers', name), 'utf8')) as { pid: number; workerId: string };
      const alive = await readFile(`/proc/${record.pid}/cmdline`, 'utf8').then((cmdline) => cmdline.includes('worker'), () => false);
      if (alive) live.push(record);
    }
    return live;
  }

  /** Describes what ended a job's first attempt: its stored result, and the warnings and errors in the workers' logs. */
  async function whyRepeated(jobId: string): Promise<string> {
    const first = await mesh.scheduler.context.blobs.getResult(jobId, 1).catch(() => undefined);
    const outcome = first
      ? `Attempt 1 ended with exit code ${first.exitCode}: ${first.stderr.toString().trim() || 'no stderr'}.`
      : 'Attempt 1 stored no result, so its worker was lost.';
    const lines: string[] = [];
    for (const name of await readdir(config.stateDir)) {
      if (!name.endsWith('.log')) continue;
      const text = await readFile(join(config.stateDir, name), 'utf8');
      lines.push(...text.split('\n').filter((line) => /"level":(40|50|60)/.test(line)));
    }
    return `${outcome} Worker warnings and errors:\n${lines.join('\n') || 'none'}`;
  }

  async function stopKeepingWorkers(running: RunningObserver): Promise<void> {
    const keep = config.stopWorkersOnExit;
    config.stopWorkersOnExit = false;
    try {
      await running.stop();
    } finally {
      config.stopWorkersOnExit = keep;
    }
  }
});
