import { ProcessStack } from './support.js';
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
});
