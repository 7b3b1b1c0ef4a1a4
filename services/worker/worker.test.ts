import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/logger.js';
import { readWorkerConfig } from './config.js';
import { startWorker } from './worker.js';

describe('worker start-up isolation check', function () {
  this.timeout(30_000);
  let privateDir: string;

  beforeEach(async () => {
    // Job folders under a folder other users cannot enter cannot be sandboxed.
    privateDir = await mkdtemp(join(tmpdir(), 'faas-private-'));
    await chmod(privateDir, 0o700);
  });
  afterEach(async () => {
    await rm(privateDir, { recursive: true, force: true });
  });

  const config = (allowUnsandboxed: boolean) => ({
    ...readWorkerConfig({}),
    // Nothing listens here; the worker only retries its connection.
    schedulerAddress: '127.0.0.1:9',
    workDir: join(privateDir, 'work'),
    allowUnsandboxed,
  });

  it('refuses to start when the sandbox probe fails', async () => {
    await assert.rejects(startWorker(config(false), createLogger('test', 'silent')), /the job sandbox does not work on this machine.*FAAS_ALLOW_UNSANDBOXED=true/);
  });

  it('starts without a sandbox only when allowed', async () => {
    const worker = await startWorker(config(true), createLogger('test', 'silent'));
    assert.equal(worker.state, 'connecting');
    await worker.stop();
  });
});
