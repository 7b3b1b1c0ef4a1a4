import assert from 'node:assert/strict';
import { checkPlaintext, isLoopbackAddress, meshChannelOptions, readMeshTls } from './tls.js';

describe('mesh TLS settings', () => {
  it('recognises loopback addresses', () => {
    for (const address of ['127.0.0.1:50051', '127.1.2.3:1', 'localhost:80', '[::1]:50051']) {
      assert.equal(isLoopbackAddress(address), true, address);
    }
    for (const address of ['0.0.0.0:50051', '10.0.0.1:1', 'gateway:50051', '[::]:1', '128.0.0.1:1']) {
      assert.equal(isLoopbackAddress(address), false, address);
    }
  });

  it('allows plaintext only on loopback or when asked', () => {
    checkPlaintext({}, 'GATEWAY_ADDRESS', '127.0.0.1:50051');
    checkPlaintext({ FAAS_ALLOW_PLAINTEXT: 'true' }, 'GATEWAY_ADDRESS', '0.0.0.0:50051');
    assert.throws(() => checkPlaintext({}, 'GATEWAY_ADDRESS', '0.0.0.0:50051'), /GATEWAY_ADDRESS=0\.0\.0\.0:50051 is not a loopback address/);
  });

  it('lets mesh channels retry a lost peer every few seconds', () => {
    for (const options of [meshChannelOptions(undefined, 'scheduler:50052'), meshChannelOptions({ caFile: 'ca', certFile: 'c', keyFile: 'k' }, '127.0.0.1:50052')]) {
      assert.ok(Number(options['grpc.max_reconnect_backoff_ms']) <= 5_000, JSON.stringify(options));
    }
    assert.equal(meshChannelOptions({ caFile: 'ca', certFile: 'c', keyFile: 'k' }, '127.0.0.1:50052')['grpc.ssl_target_name_override'], 'localhost');
  });

  it('needs all three files or none', () => {
    assert.equal(readMeshTls({}), undefined);
    assert.throws(() => readMeshTls({ FAAS_TLS_CA: '/ca.pem' }), /must be set together/);
    assert.deepEqual(readMeshTls({ FAAS_TLS_CA: 'a', FAAS_TLS_CERT: 'b', FAAS_TLS_KEY: 'c' }), { caFile: 'a', certFile: 'b', keyFile: 'c' });
  });
});
