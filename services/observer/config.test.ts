import assert from 'node:assert/strict';
import { readObserverConfig } from './config.js';

describe('observer configuration', () => {
  it('calls schedulers off loopback only with TLS', () => {
    for (const variable of ['FAAS_SCHEDULER', 'FAAS_OTHER_SCHEDULERS']) {
      assert.throws(
        () => readObserverConfig({ [variable]: 'scheduler.example:50052' }),
        new RegExp(`^ConfigError: ${variable}=scheduler.example:50052 is not a loopback address, so plaintext is not allowed`),
        variable,
      );
      const config = readObserverConfig({ [variable]: 'scheduler.example:50052', FAAS_ALLOW_PLAINTEXT: 'true' });
      assert.ok([config.schedulerAddress, ...config.otherSchedulerAddresses].includes('scheduler.example:50052'), variable);
    }
  });
});
