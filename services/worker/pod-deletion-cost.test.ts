import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/logger.js';
import { testCertificates } from '../../test/harness.js';
import { PodDeletionCost, findPod, podDeletionCostAnnotation } from './pod-deletion-cost.js';

// No Kubernetes API server runs here, so a small HTTPS server on loopback
// replaces its pod PATCH endpoint.
describe('pod deletion cost', function () {
  this.timeout(20_000);
  let server: Server;
  let port: number;
  let folder: string;
  const patches: Array<{ path: string; authorization?: string; contentType?: string; body: unknown }> = [];

  before(async () => {
    const certificates = await testCertificates();
    server = createServer(
      { cert: readFileSync(certificates.services.scheduler.certFile), key: readFileSync(certificates.services.scheduler.keyFile) },
      (request, response) => {
        let text = '';
        request.on('data', (chunk: Buffer) => (text += chunk.toString()));
        request.on('end', () => {
          patches.push({ path: `${request.method} ${request.url}`, authorization: request.headers.authorization, contentType: request.headers['content-type'], body: JSON.parse(text) });
          response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    folder = await mkdtemp(join(tmpdir(), 'faas-serviceaccount-'));
    await writeFile(join(folder, 'token'), 'service-account-token\n');
    await writeFile(join(folder, 'ca.crt'), readFileSync(certificates.caFile));
  });
  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await rm(folder, { recursive: true, force: true });
  });

  it('finds nothing outside Kubernetes', async () => {
    assert.equal(await findPod({}, folder), undefined);
  });

  it('annotates its pod with the number of running jobs', async () => {
    const pod = await findPod({ KUBERNETES_SERVICE_HOST: 'localhost', KUBERNETES_SERVICE_PORT: String(port), POD_NAME: 'worker-1', POD_NAMESPACE: 'faas' }, folder);
    assert.ok(pod);
    const cost = new PodDeletionCost(pod, createLogger('test', 'silent'));
    cost.set(0);
    cost.set(2);
    cost.set(1);
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !(JSON.stringify(patches.at(-1)?.body) ?? '').includes('"1"')) await new Promise((resolve) => setTimeout(resolve, 20));

    const last = patches.at(-1)!;
    assert.equal(last.path, 'PATCH /api/v1/namespaces/faas/pods/worker-1');
    assert.equal(last.authorization, 'Bearer service-account-token');
    assert.equal(last.contentType, 'application/merge-patch+json');
    assert.deepEqual(last.body, { metadata: { annotations: { [podDeletionCostAnnotation]: '1' } } });
    assert.ok(patches.length <= 3);
  });
});
