import assert from 'node:assert/strict';
import { cutText } from './limits.js';

describe('cutText', () => {
  it('keeps text that fits', () => {
    assert.equal(cutText('short', 5), 'short');
    assert.equal(cutText('', 0), '');
  });

  it('cuts long text, naming its size', () => {
    const cut = cutText('a'.repeat(1000), 100);

    assert.equal(Buffer.byteLength(cut), 100);
    assert.match(cut, /^a+ … \(cut from 1000 bytes\)$/);
  });

  it('cuts at a character boundary', () => {
    // Each "é" is two bytes, so one of the two limits falls inside a character.
    for (const maxBytes of [40, 41]) {
      const cut = cutText('é'.repeat(100), maxBytes);

      assert.ok(Buffer.byteLength(cut) <= maxBytes, `${Buffer.byteLength(cut)} bytes for ${maxBytes}`);
      assert.doesNotMatch(cut, /\uFFFD/);
      assert.match(cut, /^é+ … \(cut from 200 bytes\)$/);
    }
  });
});
