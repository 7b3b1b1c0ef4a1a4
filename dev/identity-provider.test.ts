import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { identityDefaults, keycloakPaths } from '../common/identity-defaults.js';
import {
  serviceAccountUsername,
  startDevIdentityProvider,
  subjectForUsername,
  TokenRequestError,
  type DevIdentityProvider,
} from './identity-provider.js';

const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code';

const users = [
  { username: 'alice', roles: [identityDefaults.userRole] },
  { username: 'root', roles: [identityDefaults.userRole, identityDefaults.adminRole] },
];
const serviceAccounts = [
  { clientId: identityDefaults.serviceClientId, secret: 'service-secret', roles: [identityDefaults.userRole, 'auditor'] },
  { clientId: 'faas-batch', secret: 'batch-secret', roles: [identityDefaults.userRole], tokenEndpointAuthMethod: 'client_secret_post' as const },
];

interface FormResponse {
  status: number;
  body: Record<string, unknown>;
}

async function postForm(url: string, fields: Record<string, string>): Promise<FormResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Starts a device authorization for faas-cli, as the CLI does, and returns the device and user codes. */
async function startDeviceAuthorization(idp: DevIdentityProvider, scope: string): Promise<{ deviceCode: string; userCode: string; verificationUri: string }> {
  const response = await postForm(idp.deviceAuthorizationEndpoint, { client_id: identityDefaults.cliClientId, scope });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  assert.equal(typeof response.body.device_code, 'string');
  assert.equal(typeof response.body.user_code, 'string');
  assert.equal(response.body.interval, 5);
  assert.equal(response.body.expires_in, 600);
  return {
    deviceCode: response.body.device_code as string,
    userCode: response.body.user_code as string,
    verificationUri: response.body.verification_uri as string,
  };
}

function pollDeviceToken(idp: DevIdentityProvider, deviceCode: string): Promise<FormResponse> {
  return postForm(idp.tokenEndpoint, {
    grant_type: deviceCodeGrantType,
    device_code: deviceCode,
    client_id: identityDefaults.cliClientId,
  });
}

async function verifyAccessToken(idp: DevIdentityProvider, token: string): Promise<JWTPayload> {
  const keySet = createRemoteJWKSet(new URL(idp.jwksUri));
  const { payload } = await jwtVerify(token, keySet, {
    issuer: idp.issuer,
    audience: identityDefaults.audience,
    algorithms: ['RS256'],
  });
  return payload;
}

async function fetchKeyIds(idp: DevIdentityProvider): Promise<string[]> {
  const response = await fetch(idp.jwksUri);
  const jwks = (await response.json()) as { keys: Array<{ kid: string; d?: string }> };
  for (const key of jwks.keys) {
    assert.equal(key.d, undefined, 'the JWKS must not contain private key members');
  }
  return jwks.keys.map((key) => key.kid);
}

describe('dev identity provider', () => {
  let idp: DevIdentityProvider;
  let baseUrl: string;

  before(async () => {
    idp = await startDevIdentityProvider({ users, serviceAccounts });
    baseUrl = `http://127.0.0.1:${idp.port}`;
  });

  after(async () => {
    await idp?.stop();
  });

  it('discovery lists Keycloak paths', async () => {
    const paths = keycloakPaths();
    const response = await fetch(`${baseUrl}${paths.discovery}`);
    assert.equal(response.status, 200);
    const discovery = (await response.json()) as Record<string, unknown>;

    assert.equal(discovery.issuer, `${baseUrl}${paths.issuer}`);
    assert.equal(discovery.jwks_uri, `${baseUrl}${paths.jwks}`);
    assert.equal(discovery.token_endpoint, `${baseUrl}${paths.token}`);
    assert.equal(discovery.device_authorization_endpoint, `${baseUrl}${paths.deviceAuthorization}`);
    assert.equal(discovery.authorization_endpoint, `${baseUrl}${paths.authorization}`);
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);

    assert.equal(idp.issuer, discovery.issuer);
    assert.equal(idp.jwksUri, discovery.jwks_uri);
    assert.equal(idp.tokenEndpoint, discovery.token_endpoint);
    assert.equal(idp.deviceAuthorizationEndpoint, discovery.device_authorization_endpoint);
  });

  it('user token verifies with Keycloak claims', async () => {
    const token = await idp.userToken('root');
    const payload = await verifyAccessToken(idp, token);

    assert.equal(decodeProtectedHeader(token).kid, idp.currentKeyId);
    assert.equal(decodeProtectedHeader(token).alg, 'RS256');
    assert.equal(payload.sub, subjectForUsername('root'));
    assert.equal(payload.preferred_username, 'root');
    assert.equal(payload.azp, identityDefaults.cliClientId);
    assert.equal(typeof payload.sid, 'string');
    assert.deepEqual(payload.realm_access, { roles: [identityDefaults.userRole, identityDefaults.adminRole] });
    assert.equal(payload.aud, identityDefaults.audience);
    assert.equal(typeof payload.scope, 'string');
    assert.ok((payload.scope as string).split(' ').includes('openid'), `scope ${String(payload.scope)}`);
    assert.equal(typeof payload.iat, 'number');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 300);
  });

  it('user subjects are stable UUIDs', () => {
    const subject = subjectForUsername('alice');
    assert.match(subject, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(subjectForUsername('alice'), subject);
    assert.notEqual(subjectForUsername('root'), subject);
  });

  it('service token verifies with Keycloak claims', async () => {
    const token = await idp.serviceToken(identityDefaults.serviceClientId, 'service-secret');
    const payload = await verifyAccessToken(idp, token);

    assert.equal(decodeProtectedHeader(token).kid, idp.currentKeyId);
    assert.equal(payload.azp, identityDefaults.serviceClientId);
    assert.equal(payload.sub, subjectForUsername(serviceAccountUsername(identityDefaults.serviceClientId)));
    assert.equal(payload.preferred_username, `service-account-${identityDefaults.serviceClientId}`);
    assert.deepEqual(payload.realm_access, { roles: [identityDefaults.userRole, 'auditor'] });
    assert.equal(payload.aud, identityDefaults.audience);
    assert.equal(typeof payload.scope, 'string');
  });

  it('service token with client_secret_post', async () => {
    const token = await idp.serviceToken('faas-batch', 'batch-secret');
    const payload = await verifyAccessToken(idp, token);
    assert.equal(payload.azp, 'faas-batch');
    assert.deepEqual(payload.realm_access, { roles: [identityDefaults.userRole] });
  });

  it('service token rejects a wrong secret', async () => {
    await assert.rejects(idp.serviceToken(identityDefaults.serviceClientId, 'wrong-secret'), (error: unknown) => {
      assert.ok(error instanceof TokenRequestError);
      assert.equal(error.error, 'invalid_client');
      return true;
    });
  });

  it('device flow then refresh grant', async () => {
    const { deviceCode, userCode, verificationUri } = await startDeviceAuthorization(idp, 'openid offline_access');
    assert.equal(verificationUri, idp.verificationUri);

    const pending = await pollDeviceToken(idp, deviceCode);
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, 'authorization_pending');

    await idp.approveDevice(userCode, 'alice');

    const granted = await pollDeviceToken(idp, deviceCode);
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    assert.equal(typeof granted.body.access_token, 'string');
    assert.equal(typeof granted.body.refresh_token, 'string');
    const first = await verifyAccessToken(idp, granted.body.access_token as string);
    assert.equal(first.preferred_username, 'alice');

    const refreshed = await postForm(idp.tokenEndpoint, {
      grant_type: 'refresh_token',
      refresh_token: granted.body.refresh_token as string,
      client_id: identityDefaults.cliClientId,
    });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const second = await verifyAccessToken(idp, refreshed.body.access_token as string);
    assert.equal(second.sub, first.sub);
    assert.equal(second.preferred_username, 'alice');
    assert.deepEqual(second.realm_access, { roles: [identityDefaults.userRole] });
    assert.notEqual(second.jti, first.jti);
    assert.equal(typeof refreshed.body.refresh_token, 'string');
    assert.notEqual(refreshed.body.refresh_token, granted.body.refresh_token);

    // Refresh tokens of the public CLI client rotate: a used one is rejected.
    const reused = await postForm(idp.tokenEndpoint, {
      grant_type: 'refresh_token',
      refresh_token: granted.body.refresh_token as string,
      client_id: identityDefaults.cliClientId,
    });
    assert.equal(reused.status, 400);
    assert.equal(reused.body.error, 'invalid_grant');
  });

  it('device code is single use', async () => {
    const { deviceCode, userCode } = await startDeviceAuthorization(idp, 'openid');
    await idp.approveDevice(userCode, 'alice');

    const granted = await pollDeviceToken(idp, deviceCode);
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    assert.equal(typeof granted.body.refresh_token, 'string', 'refresh token without offline_access, as Keycloak');

    const again = await pollDeviceToken(idp, deviceCode);
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
  });

  it('approveDevice rejects unknown user code', async () => {
    await assert.rejects(idp.approveDevice('BCDF-GHJK', 'alice'), /user code BCDF-GHJK failed .* HTTP 400: The user code was not found/);
  });

  it('approveDevice rejects unknown user', async () => {
    const { userCode } = await startDeviceAuthorization(idp, 'openid');
    await assert.rejects(idp.approveDevice(userCode, 'mallory'), /Unknown user mallory/);
  });

  it('approveDevice rejects a used user code', async () => {
    const { userCode } = await startDeviceAuthorization(idp, 'openid');
    await idp.approveDevice(userCode, 'alice');
    await assert.rejects(idp.approveDevice(userCode, 'root'), /already been used/);
  });

  it('userToken rejects unknown user', async () => {
    await assert.rejects(idp.userToken('mallory'), /Unknown user mallory/);
  });

  it('code verification page serves a form', async () => {
    const response = await fetch(idp.verificationUri);
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.match(page, /name="user_code"/);
    assert.doesNotMatch(page, /https?:\/\/(?!127\.0\.0\.1)/, 'the page must load nothing from other hosts');
  });

  it('rotateKeys signs with a new kid', async () => {
    const before = await idp.userTokenResponse('alice');
    const oldKeyId = decodeProtectedHeader(before.access_token).kid;
    assert.equal(oldKeyId, idp.currentKeyId);

    await idp.rotateKeys();

    const after = await idp.userToken('alice');
    const newKeyId = decodeProtectedHeader(after).kid;
    assert.equal(newKeyId, idp.currentKeyId);
    assert.notEqual(newKeyId, oldKeyId);

    // A fresh key set fetches the JWKS served after the rotation.
    const payload = await verifyAccessToken(idp, after);
    assert.equal(payload.preferred_username, 'alice');

    const keyIds = await fetchKeyIds(idp);
    assert.deepEqual(keyIds, [newKeyId, oldKeyId]);
    await verifyAccessToken(idp, before.access_token);

    // State survives the rotation: the refresh token issued before it still works.
    assert.equal(typeof before.refresh_token, 'string');
    const refreshed = await postForm(idp.tokenEndpoint, {
      grant_type: 'refresh_token',
      refresh_token: before.refresh_token as string,
      client_id: identityDefaults.cliClientId,
    });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal(decodeProtectedHeader(refreshed.body.access_token as string).kid, newKeyId);

    await idp.rotateKeys();
    const keyIdsAfterSecondRotation = await fetchKeyIds(idp);
    assert.equal(keyIdsAfterSecondRotation.length, 2);
    assert.equal(keyIdsAfterSecondRotation[1], newKeyId);
    assert.ok(!keyIdsAfterSecondRotation.includes(oldKeyId ?? ''), 'the key before the previous one is dropped');
  });
});

describe('dev identity provider with automatic device approval', () => {
  let idp: DevIdentityProvider;

  before(async () => {
    idp = await startDevIdentityProvider({ users, serviceAccounts, autoApproveDeviceAs: 'root', accessTokenTtlSeconds: 60 });
  });

  after(async () => {
    await idp?.stop();
  });

  it('first poll returns tokens', async () => {
    const { deviceCode } = await startDeviceAuthorization(idp, 'openid offline_access');

    const granted = await pollDeviceToken(idp, deviceCode);
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    assert.equal(typeof granted.body.refresh_token, 'string');
    const payload = await verifyAccessToken(idp, granted.body.access_token as string);
    assert.equal(payload.preferred_username, 'root');
    assert.equal(payload.sub, subjectForUsername('root'));
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 60);
  });

  it('userToken still signs in the requested user', async () => {
    const payload = await verifyAccessToken(idp, await idp.userToken('alice'));
    assert.equal(payload.preferred_username, 'alice');
  });

  it('start rejects unknown autoApproveDeviceAs', async () => {
    await assert.rejects(startDevIdentityProvider({ users, autoApproveDeviceAs: 'mallory' }), /Invalid autoApproveDeviceAs mallory/);
  });
});

describe('dev identity provider stop', () => {
  it('stop frees the port', async () => {
    const idp = await startDevIdentityProvider();
    const port = idp.port;
    const discovery = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
    assert.equal(discovery.status, 200);
    await discovery.body?.cancel();

    await idp.stop();

    await assert.rejects(fetch(`${idp.issuer}/.well-known/openid-configuration`));
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await assert.rejects(idp.userToken('alice'), /is stopped/);
  });

  it('defaults match the Keycloak realm users', async () => {
    const idp = await startDevIdentityProvider();
    try {
      const admin = await verifyAccessToken(idp, await idp.userToken('admin'));
      assert.deepEqual(admin.realm_access, { roles: [identityDefaults.userRole, identityDefaults.adminRole] });
      const service = await verifyAccessToken(idp, await idp.serviceToken(identityDefaults.serviceClientId, 'REPLACE-ME-dev-only-faas-service-secret'));
      assert.deepEqual(service.realm_access, { roles: [identityDefaults.userRole] });
    } finally {
      await idp.stop();
    }
  });
});
