import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobState } from '../gen/faas/v1/job.js';
import type { LogsResponse } from '../gen/faas/v1/job_service.js';
import { Mesh, assertContiguousLog, waitFor } from './harness.js';
import { TcpRelay } from './tcp-relay.js';

/** Returns the output of a job that prints `lines` numbered lines. */
function printedLines(lines: number): string {
  return Array.from({ length: lines }, (_, i) => `line ${i + 1}\n`).join('');
}

/**
 * Starts a job with one attempt that prints `lines` lines, a tenth of a
 * second apart, and follows its output from the fifth line on.
 */
async function printingJob(mesh: Mesh, lines: number): Promise<{ jobId: string; chunks: LogsResponse[]; done: Promise<void> }> {
  const repo = await mesh.repository({ 'main.sh': `for i in $(seq 1 ${lines}); do echo "line $i"; sleep 0.1; done\n` });
  const { job } = await mesh.client.submit({ repositoryUrl: repo.url, retry: { maxAttempts: 1, retryFailedRuns: false } });
  const chunks: LogsResponse[] = [];
  const done = (async () => {
    for await (const chunk of mesh.client.logs(job!.id, { follow: true })) chunks.push(chunk);
  })();
  await waitFor(() => chunks.some((c) => c.data.toString().includes('line 5')), 20_000, 'the job to print');
  return { jobId: job!.id, chunks, done };
}

/** Checks that a job of `printingJob` succeeded in its first attempt, with every line logged once, in order. */
async function assertRanOnce(mesh: Mesh, jobId: string, chunks: LogsResponse[], lines: number): Promise<void> {
  const status = await mesh.client.status(jobId);
  assert.equal(status.state, JobState.JOB_STATE_SUCCEEDED, status.error?.message);
  assert.equal(status.attempt, 1, 'the attempt went on');
  assertContiguousLog(chunks);
  assert.equal(Buffer.concat(chunks.map((c) => c.data)).toString(), printedLines(lines), 'every line once, in order');
}

describe('worker reconnect', function () {
  this.timeout(60_000);
  let mesh: Mesh;
  let relay: TcpRelay;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
    relay = await TcpRelay.start(mesh.scheduler.address);
    // The worker reaches the scheduler through the relay, which can break the stream between them.
    await mesh.addWorker({ worker: { schedulerAddress: relay.address } });
  });
  after(async () => {
    await mesh?.stop();
    await relay?.stop();
  });
  afterEach(() => relay.acceptConnections());

  /** Submits a job and waits until it runs; returns its id. */
  async function runningJob(script: string): Promise<string> {
    const repo = await mesh.repository({ 'main.sh': script });
    const { job } = await mesh.client.submit({ repositoryUrl: repo.url });
    await waitFor(async () => (await mesh.client.status(job!.id)).state === JobState.JOB_STATE_RUNNING, 20_000, 'the job to run');
    return job!.id;
  }

  /** Breaks the worker's stream, and keeps it from reconnecting until the relay accepts connections again. */
  function cutOffWorker(): void {
    relay.rejectConnections();
    relay.breakConnections();
  }

  it('keeps a job across a broken stream', async () => {
    const lines = 40;
    const { jobId, chunks, done } = await printingJob(mesh, lines);

    cutOffWorker();
    // Down for a second: the job goes on printing meanwhile.
    await sleep(1_000);
    relay.acceptConnections();
    await done;

    await assertRanOnce(mesh, jobId, chunks, lines);
    const { result } = await mesh.client.result(jobId);
    assert.equal(result?.stdout.toString(), printedLines(lines));
  });

  it('forwards a Cancel made meanwhile', async () => {
    const jobId = await runningJob('echo started; sleep 30\n');

    cutOffWorker();
    await mesh.client.cancel(jobId, 'no longer needed');
    relay.acceptConnections();

    await waitFor(async () => (await mesh.client.status(jobId)).state === JobState.JOB_STATE_CANCELLED, 20_000, 'the job to end');
    const status = await mesh.client.status(jobId);
    assert.equal(status.attempt, 1);
    await waitFor(() => mesh.workers[0].activeJobs === 0, 10_000, 'the worker to stop the job');
  });

  it('reruns a job after the grace', async () => {
    const jobId = await runningJob('echo started; sleep 30\n');

    cutOffWorker();
    const graceMs = mesh.scheduler.context.config.adoptionGraceMs;
    // The grace counts from the break, however often the worker fails to reconnect meanwhile.
    await waitFor(() => mesh.workers[0].activeJobs === 0, graceMs + 3_000, 'the worker to give the job up');
    relay.acceptConnections();

    // The scheduler handed the job back to the queue when the grace ended, so it runs again.
    await waitFor(async () => {
      const status = await mesh.client.status(jobId);
      return status.state === JobState.JOB_STATE_RUNNING && status.attempt === 2;
    }, 30_000, 'the second attempt to run');
    await mesh.client.cancel(jobId);
    await waitFor(async () => (await mesh.client.status(jobId)).state === JobState.JOB_STATE_CANCELLED, 20_000, 'the job to end');
  });
});

describe('worker reconnect while the scheduler still sees the old stream', function () {
  this.timeout(60_000);
  let mesh: Mesh;
  let relay: TcpRelay;

  before(async () => {
    // Heartbeats so far apart that the scheduler would notice the broken stream only after the adoption grace.
    mesh = await Mesh.start({ workers: 0, scheduler: { heartbeatIntervalMs: 4_000, adoptionGraceMs: 10_000 } });
    relay = await TcpRelay.start(mesh.scheduler.address);
    await mesh.addWorker({ worker: { schedulerAddress: relay.address } });
  });
  after(async () => {
    await mesh?.stop();
    await relay?.stop();
  });

  it('takes the job over through the new stream', async () => {
    const lines = 70;
    const { jobId, chunks, done } = await printingJob(mesh, lines);
    // The scheduler would notice the break after 12 s, past the worker's grace of 10 s: the worker's new stream must replace the old one.
    relay.breakClientSide();
    await done;
    await assertRanOnce(mesh, jobId, chunks, lines);
  });

  it('reconnects from a silent connection', async () => {
    const lines = 120;
    const { jobId, chunks, done } = await printingJob(mesh, lines);
    const connections = relay.connectionsAccepted;
    relay.freezeConnections();
    // Its keepalive pings go unanswered for 5 s, 5 s apart at most; without
    // them, the connection would fail only after 20 s or more.
    await waitFor(() => relay.connectionsAccepted > connections, 15_000, 'the worker to reconnect');
    await done;
    await assertRanOnce(mesh, jobId, chunks, lines);
  });
});
