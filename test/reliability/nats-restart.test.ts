import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { FaasClientError } from '../../client/errors.js';
import { ProcessStack, waitFor } from './support.js';
import { submitThroughNatsRestart } from './nats-restart-scenario.js';

describe('reliability: nats-server restart', function () {
  this.timeout(120_000);
  let processes: ProcessStack | undefined;

  before(async function () {
    this.timeout(60_000);
    // No workers until NATS is back, so no job runs during the outage; nats-restart-outage.test.ts covers that case.
    processes = await ProcessStack.start({ workers: 0, slotsPerWorker: 2, env: { FAAS_ACK_WAIT: '5s' } });
  });
  after(async function () {
    this.timeout(60_000);
    await processes?.stop();
  });

  it('answers calls with UNAVAILABLE at once while NATS is down', async () => {
    const nats = processes!.stack.natsServer!;
    const client = processes!.client({ retries: 0, deadlineMs: 3_000 });
    const url = await processes!.repository({ 'main.sh': 'true\n' });
    const { job } = await client.submit({ repositoryUrl: url });
    await nats.kill();
    try {
      // The scheduler notices the lost connection within moments; until then a call may still wait for NATS.
      await waitFor(
        async () => {
          const failure = await client.status(job!.id).then(() => undefined, (error: unknown) => error);
          if (!(failure instanceof FaasClientError) || failure.code === GrpcStatus.DEADLINE_EXCEEDED) return false;
          assert.equal(failure.code, GrpcStatus.UNAVAILABLE, failure.message);
          return true;
        },
        15_000,
        'Status to fail with UNAVAILABLE before its 3 s deadline',
      );
    } finally {
      await nats.restart();
    }
  });

  it('keeps accepted jobs and rejects Submits during the outage', async () => {
    await submitThroughNatsRestart(processes!, async () => {
      await processes!.stack.addWorker();
      await processes!.stack.addWorker();
      await waitFor(
        () => processes!.stack.services().filter((service) => service.running && service.name.startsWith('worker-')).length >= 2,
        5_000,
        'the workers to start',
      );
    });
  });
});
