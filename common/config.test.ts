import assert from 'node:assert/strict';
import { ConfigError, formatBytes, parseBytes, parseDurationMs, readAddress, readBool, readDurationMs, readInt, unknownByteUnit } from './config.js';

describe('config readers', () => {
  it('parses durations', () => {
    assert.equal(parseDurationMs('250ms'), 250);
    assert.equal(parseDurationMs('10s'), 10_000);
    assert.equal(parseDurationMs('1.5m'), 90_000);
    assert.equal(parseDurationMs('2h'), 7_200_000);
    assert.equal(parseDurationMs('700'), 700);
    assert.equal(parseDurationMs('ten'), undefined);
  });

  it('parses and formats sizes', () => {
    assert.equal(parseBytes('512MiB'), 512 * 1024 ** 2);
    assert.equal(parseBytes('2TiB'), 2 * 1024 ** 4);
    assert.equal(parseBytes('3 TB'), 3e12);
    assert.equal(parseBytes('5XB'), undefined);
    assert.equal(unknownByteUnit('5XB'), 'XB');
    assert.equal(unknownByteUnit('5GiB'), undefined);
    assert.equal(unknownByteUnit('lots'), undefined);
    assert.equal(formatBytes(16 * 1024 ** 3), '16 GiB');
    assert.equal(formatBytes(1536 * 1024), '1.5 MiB');
    assert.equal(formatBytes(3 * 1024 ** 2 + 7), '3 MiB');
    assert.equal(formatBytes(100), '100 B');
  });

  it('uses defaults for unset values', () => {
    assert.equal(readInt({}, 'N', 3, 1, 5), 3);
    assert.equal(readBool({ B: '' }, 'B', true), true);
    assert.equal(readDurationMs({}, 'D', 1000, 0, 5000), 1000);
  });

  it('names the variable and the range in errors', () => {
    assert.throws(() => readInt({ WORKER_SLOTS: '0' }, 'WORKER_SLOTS', 2, 1, 64), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /WORKER_SLOTS=0 is invalid: expected an integer from 1 to 64/);
      return true;
    });
    assert.throws(() => readDurationMs({ D: '5x' }, 'D', 1, 0, 10), /D=5x is invalid/);
    assert.throws(() => readBool({ B: 'maybe' }, 'B', false), /B=maybe is invalid: expected true or false/);
    assert.throws(() => readAddress({ A: 'nowhere' }, 'A', ''), /A=nowhere is invalid: expected host:port/);
  });
});
