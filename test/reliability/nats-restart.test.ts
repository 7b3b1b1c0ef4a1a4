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
