import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { readEdgeConfig } from './config.js';

const issuer = 'https://keycloak.example.com/realms/faas';

describe('edge configuration', () => {
  it('requires an issuer', () => {
    assert.throws(() => readEdgeConfig({}), /FAAS_OIDC_ISSUER is required/);
  });

  it('uses the documented defaults', () => {
    const config = readEdgeConfig({ FAAS_OIDC_ISSUER: issuer });
    assert.equal(config.listenAddress, '127.0.0.1:8080');
    assert.equal(config.gatewayAddress, '127.0.0.1:50051');
    assert.equal(config.grpcWeb, true);
    assert.equal(config.webRoot, resolve('web/dist'));
    assert.deepEqual(config.corsOrigins, []);
    assert.equal(config.maxRequestBytes, 4 * 1024 * 1024);
    assert.equal(config.page.clientId, 'faas-web');
    assert.equal(config.page.grpcWebUrl, undefined);
    assert.equal(config.meshTls, undefined);
  });

  it('reads origins in serialized form', () => {
    const config = readEdgeConfig({ FAAS_OIDC_ISSUER: issuer, FAAS_CORS_ORIGINS: 'https://FAAS.example.com, http://127.0.0.1:5173' });
    assert.deepEqual(config.corsOrigins, ['https://faas.example.com', 'http://127.0.0.1:5173']);
  });

  it('rejects entries that are not origins', () => {
    for (const entry of ['https://faas.example.com/', 'https://faas.example.com/app', 'faas.example.com', '*', 'ftp://faas.example.com']) {
      assert.throws(() => readEdgeConfig({ FAAS_OIDC_ISSUER: issuer, FAAS_CORS_ORIGINS: entry }), /FAAS_CORS_ORIGINS contains .* not an origin/, entry);
    }
  });

  it('needs TLS or loopback for grpc-web', () => {
    assert.throws(() => readEdgeConfig({ FAAS_OIDC_ISSUER: issuer, FAAS_GATEWAY: 'gateway:50051' }), /not a loopback address/);
    const pageOnly = readEdgeConfig({ FAAS_OIDC_ISSUER: issuer, FAAS_GATEWAY: 'gateway:50051', FAAS_GRPC_WEB: 'off' });
    assert.equal(pageOnly.grpcWeb, false);
  });

  it('rejects a malformed grpc-web URL and flag', () => {
    assert.throws(() => readEdgeConfig({ FAAS_OIDC_ISSUER: issuer, FAAS_GRPC_WEB_URL: 'not a url' }), /FAAS_GRPC_WEB_URL=not a url is invalid/);
    assert.throws(() => readEdgeConfig({ FAAS_OIDC_ISSUER: issuer, FAAS_GRPC_WEB: 'sometimes' }), /FAAS_GRPC_WEB=sometimes is invalid/);
  });
});
