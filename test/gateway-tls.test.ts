import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { credentials } from '@grpc/grpc-js';
import { FaasClient } from '../client/client.js';
import { FaasClientError } from '../client/errors.js';
import { Mesh } from './harness.js';

describe('gateway TLS', function () {
  this.timeout(30_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 0, gatewayTls: true });
  });
  after(async () => {
    await mesh?.stop();
  });

  const port = () => mesh.gateway.address.slice(mesh.gateway.address.lastIndexOf(':') + 1);

  it('serves the API over TLS', async () => {
    const client = new FaasClient({
      address: `localhost:${port()}`,
      token: await mesh.identity.userToken('alice'),
      channelCredentials: credentials.createSsl(readFileSync(mesh.certificates.caFile)),
    });
    try {
      const listed = await client.list();
      assert.deepEqual(listed.jobs, []);
    } finally {
      client.close();
    }
  });

  it('refuses plaintext callers', async () => {
    const client = new FaasClient({ address: `localhost:${port()}`, token: await mesh.identity.userToken('alice'), retries: 0, deadlineMs: 3_000 });
    try {
      await assert.rejects(client.list(), (error: unknown) => {
        assert.ok(error instanceof FaasClientError);
        assert.equal(error.codeName, 'UNAVAILABLE');
        return true;
      });
    } finally {
      client.close();
    }
  });
});
