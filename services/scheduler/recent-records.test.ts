import assert from 'node:assert/strict';
import { RecentRecords } from './recent-records.js';

describe('RecentRecords', () => {
  const data = (text: string) => new TextEncoder().encode(text);
  const text = (version?: { data: Uint8Array }) => (version ? new TextDecoder().decode(version.data) : undefined);

  it('returns only a known first version', () => {
    const recent = new RecentRecords(10);
    recent.remember('job', 5, 0, data('queued'));
    recent.remember('job', 9, 5, data('running'));
    assert.equal(text(recent.firstFrom('job', 1)), 'queued');
    assert.equal(text(recent.firstFrom('job', 5)), 'queued');
    assert.equal(text(recent.firstFrom('job', 6)), 'running');
    assert.equal(recent.firstFrom('job', 10), undefined);
    // Version 12 replaced one this replica never wrote.
    recent.remember('job', 14, 12, data('final'));
    assert.equal(recent.firstFrom('job', 10), undefined);
    assert.equal(text(recent.firstFrom('job', 13)), 'final');
    assert.equal(recent.firstFrom('other', 1), undefined);
  });

  it('drops the jobs written least lately', () => {
    const recent = new RecentRecords(2);
    recent.remember('a', 1, 0, data('a'));
    recent.remember('b', 2, 0, data('b'));
    recent.remember('a', 3, 1, data('a again'));
    recent.remember('c', 4, 0, data('c'));
    assert.equal(recent.firstFrom('b', 1), undefined);
    assert.equal(text(recent.firstFrom('a', 2)), 'a again');
    assert.equal(text(recent.firstFrom('c', 1)), 'c');
  });

  it('keeps the latest sixteen versions of a job', () => {
    const recent = new RecentRecords(2);
    for (let seq = 1; seq <= 20; seq++) recent.remember('job', seq, seq - 1, data(`v${seq}`));
    assert.equal(recent.firstFrom('job', 4), undefined);
    assert.equal(text(recent.firstFrom('job', 5)), 'v5');
    assert.equal(text(recent.firstFrom('job', 20)), 'v20');
  });

  it('returns recent latest versions, forgets jobs', () => {
    const recent = new RecentRecords(10);
    const before = Date.now() - 1;
    recent.remember('job', 5, 0, data('queued'));
    recent.remember('job', 9, 5, data('running'));
    assert.equal(text({ data: recent.latestSince('job', before)! }), 'running');
    assert.equal(recent.latestSince('job', Date.now() + 1), undefined);
    recent.forget('job');
    assert.equal(recent.latestSince('job', before), undefined);
    assert.equal(recent.firstFrom('job', 1), undefined);
  });
});
