import assert from 'node:assert/strict';
import { FaasClient } from '../client/client.js';
import { Mesh, rejection } from './harness.js';

// The gateway forwards the details of a failed scheduler call to its caller.
// When grpc-js itself produced the status (no connection, deadline), those
// details describe the internal network.
describe('gateway without a scheduler', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('hides the scheduler address from callers', async () => {
    const schedulerAddress = mesh.scheduler.address;
    const schedulerPort = schedulerAddress.slice(schedulerAddress.lastIndexOf(':') + 1);
    await mesh.scheduler.stop();

    const token = await mesh.identity.userToken('alice');
    const client = new FaasClient({ address: mesh.gateway.address, retries: 0, deadlineMs: 10_000, token });
    try {
      const error = await rejection(client.status('0'.repeat(26)));

      assert.equal(error.codeName, 'UNAVAILABLE');
      assert.doesNotMatch(error.message, new RegExp(`:${schedulerPort}\\b`), `message names the scheduler port: ${error.message}`);
      assert.doesNotMatch(error.message, /ECONNREFUSED|No connection established/, `message shows the transport error: ${error.message}`);
    } finally {
      client.close();
    }
  });
});
