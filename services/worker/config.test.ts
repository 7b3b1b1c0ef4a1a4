import assert from 'node:assert/strict';
import { readWorkerConfig } from './config.js';

describe('readWorkerConfig', () => {
  it('reads FAAS_OUTPUT_CAP as a size', () => {
    assert.equal(readWorkerConfig({ FAAS_OUTPUT_CAP: '512KiB' }).outputCapBytes, 512 * 1024);
    assert.equal(readWorkerConfig({ FAAS_OUTPUT_CAP: '65536' }).outputCapBytes, 65_536);
    assert.equal(readWorkerConfig({}).outputCapBytes, 1024 * 1024);
  });

  it('rejects an output cap that no result message could carry', () => {
    assert.throws(() => readWorkerConfig({ FAAS_OUTPUT_CAP: '3MiB' }), /^ConfigError: FAAS_OUTPUT_CAP=3MiB is invalid: expected a size such as 512MiB or 2GiB/);
  });
});
