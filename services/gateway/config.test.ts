import assert from 'node:assert/strict';
import { readGatewayConfig } from './config.js';

const issuer = 'https://keycloak.example.com/realms/faas';

describe('gateway configuration', () => {
  it('requires an issuer', () => {
    assert.throws(() => readGatewayConfig({}), /FAAS_OIDC_ISSUER is required/);
  });

  it('uses Keycloak-shaped defaults', () => {
    const { auth } = readGatewayConfig({ FAAS_OIDC_ISSUER: issuer });
    assert.equal(auth.audience, 'faas');
    assert.equal(auth.userRole, 'faas-user');
    assert.equal(auth.adminRole, 'faas-admin');
    assert.equal(auth.clockToleranceSeconds, 30);
    assert.ok(auth.algorithms.every((algorithm) => !algorithm.startsWith('HS')));
  });

  it('accepts plain http issuers only on loopback', () => {
    readGatewayConfig({ FAAS_OIDC_ISSUER: 'http://127.0.0.1:8080/realms/faas' });
    assert.throws(() => readGatewayConfig({ FAAS_OIDC_ISSUER: 'http://keycloak:8080/realms/faas' }), /must use https/);
  });

  it('rejects symmetric algorithms', () => {
    assert.throws(() => readGatewayConfig({ FAAS_OIDC_ISSUER: issuer, FAAS_OIDC_ALGORITHMS: 'RS256,HS256' }), /contains HS256/);
  });

  it('needs TLS files in pairs and TLS off loopback', () => {
    assert.throws(() => readGatewayConfig({ FAAS_OIDC_ISSUER: issuer, GATEWAY_TLS_CERT: '/c.pem' }), /set both or neither/);
    assert.throws(() => readGatewayConfig({ FAAS_OIDC_ISSUER: issuer, GATEWAY_ADDRESS: '0.0.0.0:50051' }), /not a loopback address/);
    const config = readGatewayConfig({
      FAAS_OIDC_ISSUER: issuer,
      GATEWAY_ADDRESS: '0.0.0.0:50051',
      GATEWAY_TLS_CERT: '/c.pem',
      GATEWAY_TLS_KEY: '/k.pem',
    });
    assert.deepEqual(config.publicTls, { certFile: '/c.pem', keyFile: '/k.pem' });
  });

  it('calls the scheduler and the observer off loopback only with TLS', () => {
    for (const variable of ['FAAS_SCHEDULER', 'FAAS_OBSERVER']) {
      assert.throws(
        () => readGatewayConfig({ FAAS_OIDC_ISSUER: issuer, [variable]: 'mesh.example:50052' }),
        new RegExp(`^ConfigError: ${variable}=mesh.example:50052 is not a loopback address, so plaintext is not allowed`),
        variable,
      );
      readGatewayConfig({ FAAS_OIDC_ISSUER: issuer, [variable]: 'mesh.example:50052', FAAS_ALLOW_PLAINTEXT: 'true' });
    }
  });
});
