import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  decodeBase64Body,
  decodeFrames,
  decodeRequestMessage,
  encodeDataFrame,
  encodeForMode,
  encodeGrpcMessage,
  encodeTrailerFrame,
  GrpcWebError,
  parseGrpcWebContentType,
} from './grpc-web.js';

/** Asserts that `action` throws a GrpcWebError with `code` and a message matching `pattern`. */
function assertGrpcWebError(action: () => unknown, code: GrpcStatus, pattern: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof GrpcWebError, `expected GrpcWebError, got ${String(error)}`);
    assert.equal(error.code, code, `code ${GrpcStatus[error.code]} for "${error.message}"`);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('grpc-web framing', () => {
  describe('content types', () => {
    const cases: Array<[string, 'binary' | 'text', string]> = [
      ['application/grpc-web', 'binary', 'proto'],
      ['application/grpc-web+proto', 'binary', 'proto'],
      ['application/grpc-web-text', 'text', 'proto'],
      ['application/grpc-web-text+proto', 'text', 'proto'],
      ['Application/GRPC-Web+Proto; charset=utf-8', 'binary', 'proto'],
      ['application/grpc-web+json', 'binary', 'json'],
    ];
    for (const [header, mode, format] of cases) {
      it(`parses ${header}`, () => {
        const parsed = parseGrpcWebContentType(header);
        assert.ok(parsed, `${header} was not recognised`);
        assert.equal(parsed.mode, mode);
        assert.equal(parsed.messageFormat, format);
      });
    }

    it('rejects other media types', () => {
      for (const header of [undefined, 'application/grpc', 'application/json', 'text/plain', 'application/grpc-webx']) {
        assert.equal(parseGrpcWebContentType(header), undefined, `${header} was taken for grpc-web`);
      }
    });
  });

  describe('frames', () => {
    it('data frame has flag, length and message', () => {
      const frame = encodeDataFrame(Buffer.from('hello'));
      assert.deepEqual([...frame.subarray(0, 5)], [0x00, 0, 0, 0, 5]);
      assert.equal(frame.subarray(5).toString(), 'hello');
    });

    it('trailer frame carries header lines', () => {
      const frame = encodeTrailerFrame([
        ['grpc-status', '3'],
        ['grpc-message', 'bad input'],
      ]);
      assert.equal(frame[0], 0x80);
      const block = 'grpc-status: 3\r\ngrpc-message: bad input\r\n';
      assert.equal(frame.readUInt32BE(1), block.length);
      assert.equal(frame.subarray(5).toString('latin1'), block);
    });

    it('splits a body into frames', () => {
      const body = Buffer.concat([encodeDataFrame(Buffer.from('one')), encodeDataFrame(Buffer.alloc(0)), encodeDataFrame(Buffer.from('three'))]);
      const frames = decodeFrames(body);
      assert.deepEqual(
        frames.map((frame) => frame.payload.toString()),
        ['one', '', 'three'],
      );
    });

    it('rejects a truncated header', () => {
      const body = Buffer.concat([encodeDataFrame(Buffer.from('one')), Buffer.from([0, 0, 0])]);
      assertGrpcWebError(() => decodeFrames(body), GrpcStatus.INVALID_ARGUMENT, /ends inside a frame header: 3 bytes left at offset 8/);
    });

    it('rejects a truncated message', () => {
      const body = encodeDataFrame(Buffer.from('hello')).subarray(0, 7);
      assertGrpcWebError(() => decodeFrames(body), GrpcStatus.INVALID_ARGUMENT, /declares 5 bytes, 2 follow/);
    });
  });

  describe('request message', () => {
    it('returns the one message in binary mode', () => {
      const message = decodeRequestMessage(encodeDataFrame(Buffer.from('payload')), 'binary');
      assert.equal(message.toString(), 'payload');
    });

    it('returns the one message in text mode', () => {
      const body = Buffer.from(encodeDataFrame(Buffer.from('payload')).toString('base64'));
      assert.equal(decodeRequestMessage(body, 'text').toString(), 'payload');
    });

    it('accepts an empty message', () => {
      assert.equal(decodeRequestMessage(encodeDataFrame(Buffer.alloc(0)), 'binary').length, 0);
    });

    it('rejects no message', () => {
      assertGrpcWebError(() => decodeRequestMessage(Buffer.alloc(0), 'binary'), GrpcStatus.INVALID_ARGUMENT, /contains 0 messages.*exactly one/);
    });

    it('rejects two messages', () => {
      const body = Buffer.concat([encodeDataFrame(Buffer.from('a')), encodeDataFrame(Buffer.from('b'))]);
      assertGrpcWebError(() => decodeRequestMessage(body, 'binary'), GrpcStatus.INVALID_ARGUMENT, /contains 2 messages/);
    });

    it('rejects a trailer frame', () => {
      const body = Buffer.concat([encodeDataFrame(Buffer.from('a')), encodeTrailerFrame([['x', 'y']])]);
      assertGrpcWebError(() => decodeRequestMessage(body, 'binary'), GrpcStatus.INVALID_ARGUMENT, /trailer frame \(flag 0x80\)/);
    });

    it('rejects an unknown flag', () => {
      const body = encodeDataFrame(Buffer.from('a'));
      body[0] = 0x42;
      assertGrpcWebError(() => decodeRequestMessage(body, 'binary'), GrpcStatus.INVALID_ARGUMENT, /unknown flag 0x42/);
    });

    it('rejects a compressed message', () => {
      const body = encodeDataFrame(Buffer.from('a'));
      body[0] = 0x01;
      assertGrpcWebError(() => decodeRequestMessage(body, 'binary'), GrpcStatus.UNIMPLEMENTED, /compressed/);
    });
  });

  describe('base64 text mode', () => {
    it('decodes concatenated padded chunks', () => {
      const parts = [Buffer.from('a'), Buffer.from('bc'), Buffer.from('def'), Buffer.from('ghij')];
      const text = parts.map((part) => part.toString('base64')).join('');
      assert.ok(text.includes('=Y'), 'the sample has no inner padding');
      assert.equal(decodeBase64Body(Buffer.from(text)).toString(), 'abcdefghij');
    });

    it('ignores whitespace and accepts a missing final padding', () => {
      assert.equal(decodeBase64Body(Buffer.from('YW Jj\r\nZA')).toString(), 'abcd');
    });

    it('decodes each frame written as its own chunk', () => {
      const frames = [encodeDataFrame(Buffer.from('first')), encodeTrailerFrame([['grpc-status', '0']])];
      const body = Buffer.concat(frames.map((frame) => encodeForMode(frame, 'text')));
      const decoded = decodeFrames(decodeBase64Body(body));
      assert.equal(decoded.length, 2);
      assert.equal(decoded[0]!.payload.toString(), 'first');
      assert.equal(decoded[1]!.flag, 0x80);
    });

    it('rejects characters outside base64', () => {
      assertGrpcWebError(() => decodeBase64Body(Buffer.from('YWJj!ZA==')), GrpcStatus.INVALID_ARGUMENT, /not base64: character "!" at offset 4/);
    });

    it('rejects a badly padded chunk', () => {
      assertGrpcWebError(() => decodeBase64Body(Buffer.from('YW=YQ==')), GrpcStatus.INVALID_ARGUMENT, /chunk at offset 0 has 3 characters/);
      assertGrpcWebError(() => decodeBase64Body(Buffer.from('YWJjZ=')), GrpcStatus.INVALID_ARGUMENT, /has 6 characters/);
    });

    it('rejects a dangling character', () => {
      assertGrpcWebError(() => decodeBase64Body(Buffer.from('YWJjZ')), GrpcStatus.INVALID_ARGUMENT, /has 5 characters/);
    });
  });

  describe('grpc-message encoding', () => {
    it('leaves printable ASCII unchanged', () => {
      const message = 'spec.repository_url: must use https:// or http:// (got "ftp://x"); fix the URL';
      assert.equal(encodeGrpcMessage(message), message);
    });

    it('percent-encodes percent, control and non-ASCII', () => {
      assert.equal(encodeGrpcMessage('100% done\nZoë'), '100%25 done%0AZo%C3%AB');
    });
  });
});
