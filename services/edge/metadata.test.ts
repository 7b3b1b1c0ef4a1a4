import assert from 'node:assert/strict';
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { callerMetadata } from '../../common/caller.js';
import { GrpcWebError } from './grpc-web.js';
import { metadataHeaderPairs, parseGrpcTimeoutMs, requestMetadata } from './metadata.js';

describe('grpc-web metadata', () => {
  describe('request headers', () => {
    it('forwards authorization and application metadata', () => {
      const metadata = requestMetadata({
        authorization: 'Bearer abc.def.ghi',
        'x-user-agent': 'grpc-web-javascript/0.1',
        'x-request-id': 'r-1',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      });
      assert.deepEqual(metadata.get('authorization'), ['Bearer abc.def.ghi']);
      assert.deepEqual(metadata.get('x-user-agent'), ['grpc-web-javascript/0.1']);
      assert.deepEqual(metadata.get('x-request-id'), ['r-1']);
      assert.equal(metadata.get('traceparent').length, 1);
    });

    it('drops the caller headers the gateway sets', () => {
      const headers: Record<string, string> = {};
      const forged = callerMetadata({ subject: 'someone-else', admin: true, name: 'Mallory' });
      for (const [name, values] of Object.entries(forged.toJSON())) {
        headers[name] = values.map((value) => (Buffer.isBuffer(value) ? value.toString('base64') : value)).join(', ');
      }
      assert.ok(Object.keys(headers).length >= 3, 'callerMetadata set fewer headers than expected');
      const metadata = requestMetadata({ ...headers, 'x-faas-caller-future': 'x' });
      assert.deepEqual(Object.keys(metadata.toJSON()), []);
    });

    it('drops hop-by-hop, browser and proxy headers', () => {
      const metadata = requestMetadata({
        host: 'edge.example.com',
        connection: 'keep-alive, x-hop',
        'x-hop': 'listed in Connection',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        te: 'trailers',
        upgrade: 'h2c',
        'content-type': 'application/grpc-web+proto',
        'content-length': '12',
        cookie: 'session=secret',
        origin: 'https://faas.example.com',
        referer: 'https://faas.example.com/jobs',
        'user-agent': 'Mozilla/5.0',
        'sec-fetch-mode': 'cors',
        'x-grpc-web': '1',
        'grpc-timeout': '10S',
        'grpc-encoding': 'gzip',
        'x-jwt-payload': 'eyJzdWIiOiJhZG1pbiJ9',
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-user': 'admin',
        'x-auth-request-user': 'admin',
        'x-envoy-original-path': '/x',
        forwarded: 'for=203.0.113.9',
        'x-remote-user': 'admin',
      });
      assert.deepEqual(Object.keys(metadata.toJSON()), []);
    });

    it('decodes -bin headers from base64', () => {
      const metadata = requestMetadata({ 'x-trace-bin': `${Buffer.from([1, 2, 3]).toString('base64')}, ${Buffer.from('z').toString('base64')}` });
      const values = metadata.get('x-trace-bin');
      assert.equal(values.length, 2);
      assert.deepEqual([...(values[0] as Buffer)], [1, 2, 3]);
      assert.equal((values[1] as Buffer).toString(), 'z');
    });

    it('rejects values gRPC cannot carry', () => {
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{ 'x-name': 'Zo\u00eb' }, /x-name has characters outside printable ASCII/],
        [{ 'x-data-bin': 'not base64!' }, /x-data-bin is not base64/],
        [{ 'x!bang': 'v' }, /x!bang is not a valid gRPC metadata key/],
      ];
      for (const [headers, pattern] of cases) {
        assert.throws(
          () => requestMetadata(headers),
          (error: unknown) => error instanceof GrpcWebError && error.code === GrpcStatus.INVALID_ARGUMENT && pattern.test(error.message),
          `headers ${JSON.stringify(headers)}`,
        );
      }
    });
  });

  describe('grpc-timeout', () => {
    it('converts every unit to milliseconds', () => {
      assert.equal(parseGrpcTimeoutMs('2H'), 7_200_000);
      assert.equal(parseGrpcTimeoutMs('3M'), 180_000);
      assert.equal(parseGrpcTimeoutMs('10S'), 10_000);
      assert.equal(parseGrpcTimeoutMs('1500m'), 1_500);
      assert.equal(parseGrpcTimeoutMs('2000u'), 2);
      assert.equal(parseGrpcTimeoutMs('5000000n'), 5);
      assert.equal(parseGrpcTimeoutMs(undefined), undefined);
    });

    it('rejects malformed values', () => {
      for (const value of ['10', '10s', '123456789m', '-1S', '1.5S', '']) {
        assert.throws(
          () => parseGrpcTimeoutMs(value),
          (error: unknown) => error instanceof GrpcWebError && error.code === GrpcStatus.INVALID_ARGUMENT && /grpc-timeout/.test(error.message),
          `grpc-timeout ${JSON.stringify(value)} was accepted`,
        );
      }
    });
  });

  describe('response metadata', () => {
    it('encodes binary values and skips reserved keys', () => {
      const metadata = new Metadata();
      metadata.add('x-one', 'a');
      metadata.add('x-one', 'b');
      metadata.add('x-detail-bin', Buffer.from([255, 0]));
      metadata.add('content-type', 'application/grpc');
      metadata.add('grpc-encoding', 'identity');
      assert.deepEqual(metadataHeaderPairs(metadata), [
        ['x-one', 'a, b'],
        ['x-detail-bin', '/wA='],
      ]);
    });
  });
});
