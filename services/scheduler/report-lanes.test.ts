import assert from 'node:assert/strict';
import { ReportLanes } from './report-lanes.js';

/** Returns a promise and the function that resolves it, so the test decides when a report finishes. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('ReportLanes', () => {
  const noFlow = { pause: () => undefined, resume: () => undefined };

  it('orders one lane, not the others', async () => {
    const lanes = new ReportLanes(10, noFlow, (error) => assert.fail(String(error)));
    const applied: string[] = [];
    const slow = gate();
    lanes.add('job-a', async () => {
      await slow.promise;
      applied.push('a1');
    });
    lanes.add('job-a', async () => {
      applied.push('a2');
    });
    lanes.add('job-b', async () => {
      applied.push('b1');
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(applied, ['b1'], 'job-b does not wait for job-a');
    slow.open();
    await lanes.drained();
    assert.deepEqual(applied, ['b1', 'a1', 'a2']);
  });

  it('continues after a failed report', async () => {
    const errors: unknown[] = [];
    const lanes = new ReportLanes(10, noFlow, (error) => errors.push(error));
    const applied: string[] = [];
    lanes.add('job-a', async () => {
      throw new Error('write failed');
    });
    lanes.add('job-a', async () => {
      applied.push('a2');
    });
    await lanes.drained();
    assert.deepEqual(applied, ['a2']);
    assert.deepEqual(errors.map((error) => (error as Error).message), ['write failed']);
  });

  it('pauses above the limit, resumes at half', async () => {
    const events: string[] = [];
    const lanes = new ReportLanes(4, { pause: () => events.push('pause'), resume: () => events.push('resume') }, () => undefined);
    const gates = Array.from({ length: 6 }, () => gate());
    gates.forEach((pending, index) => lanes.add(`job-${index}`, () => pending.promise));
    assert.deepEqual(events, ['pause', 'pause']);
    const finish = async (index: number) => {
      gates[index].open();
      await new Promise((resolve) => setImmediate(resolve));
    };
    for (const index of [0, 1, 2]) await finish(index);
    assert.deepEqual(events, ['pause', 'pause'], 'three still wait, more than half the limit');
    await finish(3);
    assert.deepEqual(events, ['pause', 'pause', 'resume']);
    for (const pending of gates.slice(4)) pending.open();
    await lanes.drained();
  });
});
