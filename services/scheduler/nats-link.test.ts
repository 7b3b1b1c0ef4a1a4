import assert from 'node:assert/strict';
import { ErrorCode, FaasError } from '../../common/errors.js';
import { NatsLink, retryWhileUnavailable } from './nats-link.js';

const unavailable = () => new FaasError(ErrorCode.Unavailable, 'NATS is away');

describe('retryWhileUnavailable', () => {
  it('retries until NATS is back', async () => {
    const link = new NatsLink();
    link.set(false);
    const tries: number[] = [];
    const started = performance.now();
    const delays: number[] = [];
    const storing = retryWhileUnavailable(
      async () => {
        tries.push(performance.now() - started);
        if (link.connected) return;
        throw unavailable();
      },
      { natsLink: link, stopping: new AbortController().signal, onRetry: (delayMs) => delays.push(delayMs) },
    );
    // 250 + 500 + 1000 ms of waiting, then the link comes back while the 2 s wait runs.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    link.set(true);
    await storing;

    assert.deepEqual(delays, [250, 500, 1_000, 2_000]);
    assert.equal(tries.length, 5);
    const afterReconnect = tries[4] - 2_000;
    assert.ok(afterReconnect < 1_000, `the try after the reconnect waited ${afterReconnect} ms`);
  });

  it('throws other errors at once, and UNAVAILABLE once the replica stops', async () => {
    const link = new NatsLink();
    const stopping = new AbortController();
    let calls = 0;
    await assert.rejects(
      retryWhileUnavailable(async () => {
        calls++;
        throw new FaasError(ErrorCode.FailedPrecondition, 'no');
      }, { natsLink: link, stopping: stopping.signal, onRetry: () => undefined }),
      /no/,
    );
    assert.equal(calls, 1);

    link.set(false);
    const storing = retryWhileUnavailable(async () => {
      throw unavailable();
    }, { natsLink: link, stopping: stopping.signal, onRetry: () => undefined });
    setTimeout(() => stopping.abort(), 300);
    await assert.rejects(storing, /NATS is away/);
  });
});

describe('NatsLink.onReconnect', () => {
  it('wakes waiters once, except cancelled ones', () => {
    const link = new NatsLink();
    link.set(false);
    const woken: string[] = [];
    link.onReconnect(() => woken.push('kept'));
    const cancel = link.onReconnect(() => woken.push('cancelled'));
    cancel();

    link.set(true);
    link.set(false);
    link.set(true);
    assert.deepEqual(woken, ['kept']);
  });
});
