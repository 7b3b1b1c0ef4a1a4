import assert from 'node:assert/strict';
import { parseLease } from './queue-lease.js';

describe('parseLease', () => {
  const stream = 'FAAS_JOBS';
  const consumer = 'dispatch';

  it('returns the stream sequence', () => {
    assert.deepEqual(parseLease('$JS.ACK.FAAS_JOBS.dispatch.1.42.7.1796487448215000000.0', stream, consumer), { seq: 42 });
    // Newer servers put a domain and an account hash after $JS.ACK, and a token at the end.
    assert.deepEqual(parseLease('$JS.ACK._.ACCHASH.FAAS_JOBS.dispatch.2.9.11.1796487448215000000.3.abc', stream, consumer), { seq: 9 });
  });

  it('rejects other subjects', () => {
    for (const lease of [
      '',
      'faas.jobs',
      '$JS.ACK.OTHER.dispatch.1.42.7.1796487448215000000.0',
      '$JS.ACK.FAAS_JOBS.other.1.42.7.1796487448215000000.0',
      '$JS.ACK.FAAS_JOBS.dispatch.1.*.7.1796487448215000000.0',
      '$JS.ACK.FAAS_JOBS.dispatch.1.>',
      '$JS.ACK.FAAS_JOBS.dispatch.1.0.7.1796487448215000000.0',
      '$JS.API.FAAS_JOBS.dispatch.1.42.7.1796487448215000000.0',
      '$JS.ACK.FAAS_JOBS.dispatch.1.42.7.1796487448215000000.0.a.b.c',
    ]) {
      assert.equal(parseLease(lease, stream, consumer), undefined, lease);
    }
  });
});
