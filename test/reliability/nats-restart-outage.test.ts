import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobState } from '../../gen/faas/v1/job.js';
import { ProcessStack, waitFor, waitForFinal } from './support.js';
import { submitThroughNatsRestart } from './nats-restart-scenario.js';

// Workers finish jobs while NATS is down; the scheduler keeps their outcomes
// in memory and stores them once NATS is back, so no job stays RUNNING.
describe('reliability: nats-server restart with jobs running', function () {
  this.timeout(120_000);
  let processes: ProcessStack | undefined;

  before(async function () {
    this.timeout(60_000);
    processes = await ProcessStack.start({ workers: 2, slotsPerWorker: 2, env: { FAAS_ACK_WAIT: '5s' } });
  });
  after(async function () {
    this.timeout(60_000);
    await processes?.stop();
  });

  it('finishes jobs whose outcome arrives during the outage', async () => {
    await submitThroughNatsRestart(processes!);
  });

  it('keeps output written during the outage, and a follower gets all of it', async () => {
    const nats = processes!.stack.natsServer!;
    const client = processes!.client({ retries: 20 });
    const url = await processes!.repository({ 'main.sh': 'echo before\nsleep 1.5\necho during\nsleep 4\necho after\n' });
    const { job } = await client.submit({ repositoryUrl: url });
    const jobId = job!.id;

    let followed = '';
    const following = (async () => {
      for await (const chunk of client.logs(jobId, { follow: true })) followed += chunk.data.toString();
    })();
    await waitFor(() => followed.includes('before'), 20_000, 'the first line on the follower');
    await nats.kill();
    // "during" is written while NATS is away.
    await sleep(3_000);
    await nats.restart();
    await following;

    const done = await waitForFinal(client, jobId, 30_000);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);
    assert.equal(done.attempt, 1, 'the job ran once');
    assert.equal(followed, 'before\nduring\nafter\n');
    let stored = '';
    for await (const chunk of client.logs(jobId)) stored += chunk.data.toString();
    assert.equal(stored, 'before\nduring\nafter\n');
  });
});
