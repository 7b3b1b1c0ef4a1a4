import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { superviseStack } from '../../dev/supervisor.js';
import { ProcessStack, waitFor } from './support.js';

describe('reliability: npm start supervision', function () {
  this.timeout(120_000);
  let processes: ProcessStack | undefined;
  const supervision = new AbortController();
  const reports: string[] = [];

  before(async function () {
    this.timeout(60_000);
    processes = await ProcessStack.start({ workers: 0 });
    superviseStack(processes.stack, supervision.signal, (line) => reports.push(line));
  });
  after(async function () {
    this.timeout(60_000);
    supervision.abort();
    await processes?.stop();
  });

  it('starts a killed service and a killed nats-server again', async () => {
    const { stack } = processes!;
    const gateway = stack.services().find((service) => service.name === 'gateway')!;
    process.kill(gateway.pid!, 'SIGKILL');
    await stack.natsServer!.kill();

    await waitFor(() => stack.natsServer!.running, 30_000, 'nats-server to run again');
    await waitFor(() => stack.services().every((service) => service.running), 30_000, 'the gateway to run again');
    const restarted = stack.services().find((service) => service.name === 'gateway')!;
    assert.notEqual(restarted.pid, gateway.pid);

    // The restarted gateway serves again, through the restarted nats-server.
    const client = processes!.client({ retries: 10 });
    const url = await processes!.repository({ 'main.sh': 'true\n' });
    await waitFor(async () => (await client.submit({ repositoryUrl: url }).catch(() => undefined)) !== undefined, 30_000, 'a Submit to succeed');
    assert.ok(reports.some((line) => /starting gateway again/.test(line)), reports.join('\n'));
    assert.ok(reports.some((line) => /nats-server is running again/.test(line)), reports.join('\n'));
  });

  it('restarts a service killed during start-up', async () => {
    const { stack } = processes!;
    const gatewayPid = () => stack.services().find((service) => service.name === 'gateway')!.pid!;
    const first = gatewayPid();
    process.kill(first, 'SIGKILL');
    // The replacement dies before it listens.
    await waitFor(() => gatewayPid() !== first, 20_000, 'a new gateway process');
    const second = gatewayPid();
    process.kill(second, 'SIGKILL');
    // Waiting for its port would take 30 s; a start-up that a signal ended is seen at once.
    await waitFor(() => gatewayPid() !== second && stack.services().every((service) => service.running), 20_000, 'a third gateway process');
    assert.ok(getEventListeners(supervision.signal, 'abort').length <= 2, `${getEventListeners(supervision.signal, 'abort').length} abort listeners`);
  });
});
