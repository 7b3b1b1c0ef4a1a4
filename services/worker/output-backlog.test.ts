import assert from 'node:assert/strict';
import { LogStream } from '../../gen/faas/v1/job.js';
import { OutputBacklog } from './output-backlog.js';

const out = LogStream.LOG_STREAM_STDOUT;
const err = LogStream.LOG_STREAM_STDERR;

function text(backlog: OutputBacklog, offset: number): string {
  return backlog.since(offset).chunks.map((chunk) => chunk.data.toString()).join('');
}

describe('OutputBacklog', () => {
  it('returns output from an offset', () => {
    const backlog = new OutputBacklog(100);
    backlog.append(out, Buffer.from('hello '));
    backlog.append(err, Buffer.from('world'));
    assert.equal(backlog.end, 11);
    assert.equal(text(backlog, 0), 'hello world');
    assert.equal(text(backlog, 3), 'lo world');
    const { chunks, lostBytes } = backlog.since(8);
    assert.deepEqual(chunks.map((chunk) => [chunk.offset, chunk.stream, chunk.data.toString()]), [[8, err, 'rld']]);
    assert.equal(lostBytes, 0);
    assert.deepEqual(backlog.since(11).chunks, []);
    assert.deepEqual(backlog.since(50).chunks, []);
  });

  it('drops chunks past its capacity', () => {
    const backlog = new OutputBacklog(10);
    for (let i = 0; i < 5; i++) backlog.append(out, Buffer.from(`line${i}\n`));
    // Each line has 6 bytes: the last two contain the capacity.
    assert.equal(backlog.start, 18);
    assert.equal(text(backlog, 18), 'line3\nline4\n');
    const { chunks, lostBytes } = backlog.since(10);
    assert.equal(lostBytes, 8);
    assert.equal(chunks[0].offset, 18);
  });

  it('ignores empty output', () => {
    const backlog = new OutputBacklog(10);
    backlog.append(out, Buffer.alloc(0));
    assert.equal(backlog.end, 0);
    assert.equal(backlog.start, 0);
  });
});
