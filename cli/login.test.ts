import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { status as GrpcStatus, type ServerErrorResponse } from '@grpc/grpc-js';
import { startTestServer, type TestServer } from '../client/test-server.js';
import { startDevIdentityProvider, type DevIdentityProvider } from '../dev/identity-provider.js';
import { ListResponse } from '../gen/faas/v1/job_service.js';
import { loginWithDeviceFlow, storedAccessToken } from './auth.js';
import { credentialsPath, loadCredentials, saveCredentials, type StoredCredentials } from './credentials.js';
import type { CliIo } from './io.js';
import { main } from './main.js';
import { deviceLogin, OidcError, refresh } from './oidc.js';

const serviceSecret = 'REPLACE-ME-dev-only-faas-service-secret';

/** Collects what a stream receives and calls `onWrite` with the text so far after each write. */
class Collector extends Writable {
  private readonly chunks: Buffer[] = [];

  constructor(private readonly onWrite: (text: string) => void = () => {}) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    this.onWrite(this.text());
    callback();
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCli(argv: string[], env: Record<string, string | undefined>, onStderr?: (text: string) => void): Promise<CliRun> {
  const stdout = new Collector();
  const stderr = new Collector(onStderr);
  const io: CliIo = { stdout, stderr, stdin: Readable.from([]), env };
  const code = await main(argv, io);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

function statusError(code: GrpcStatus, details: string): ServerErrorResponse {
  return Object.assign(new Error(details), { code, details });
}

describe('faas login', function () {
  // Each device login waits at least one polling interval of the provider, 5 s.
  this.timeout(60_000);

  let idp: DevIdentityProvider;
  let workDir: string;
  let env: Record<string, string | undefined>;

  before(async () => {
    idp = await startDevIdentityProvider();
  });

  after(async () => {
    await idp.stop();
  });

  beforeEach(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'faas-login-'));
    // A folder that does not exist yet, so the tests see the mode the CLI creates it with.
    env = { FAAS_CONFIG_DIR: join(workDir, 'config'), FAAS_ISSUER: idp.issuer };
  });

  afterEach(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  /** Stores alice's tokens from the provider as if `faas login` had run, skipping the polling wait. */
  async function storeAliceCredentials(fields: Partial<StoredCredentials> = {}): Promise<StoredCredentials> {
    const tokens = await idp.userTokenResponse('alice');
    const credentials: StoredCredentials = {
      version: 1,
      issuer: idp.issuer,
      clientId: 'faas-cli',
      grantType: 'device_code',
      accessToken: tokens.access_token,
      accessTokenExpiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString(),
      refreshToken: tokens.refresh_token,
      ...fields,
    };
    await saveCredentials(credentials, env);
    return credentials;
  }

  async function expireStoredToken(): Promise<StoredCredentials> {
    const stored = await loadCredentials(env);
    assert.ok(stored, 'credentials file exists');
    const expired = { ...stored, accessTokenExpiresAt: new Date(Date.now() + 10_000).toISOString() };
    await saveCredentials(expired, env);
    return expired;
  }

  async function whoami(runEnv = env): Promise<Record<string, unknown>> {
    const run = await runCli(['whoami', '--json'], runEnv);
    assert.equal(run.stderr, '');
    assert.equal(run.code, 0);
    return JSON.parse(run.stdout) as Record<string, unknown>;
  }

  describe('device authorization grant', () => {
    it('logs in after approval in the browser', async () => {
      let approval: Promise<void> | undefined;
      let shownUri: string | undefined;
      const onStderr = (text: string): void => {
        const userCode = /code ([A-Z0-9-]+)\./.exec(text)?.[1];
        if (userCode === undefined || approval !== undefined) return;
        shownUri = /^ {2}(\S+)$/m.exec(text)?.[1];
        approval = idp.approveDevice(userCode, 'alice');
      };

      const run = await runCli(['login'], env, onStderr);
      await approval;

      assert.equal(run.code, 0, run.stderr);
      assert.ok(approval, 'the prompt showed a user code');
      assert.ok(shownUri?.startsWith(`${idp.issuer}/device`), `verification URI: ${shownUri}`);
      assert.match(shownUri ?? '', /user_code=/, 'prefers verification_uri_complete');
      assert.match(run.stderr, /Logged in to .* as alice \(client faas-cli\)/);
      assert.equal(run.stdout, '');

      const path = credentialsPath(env);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await stat(join(workDir, 'config'))).mode & 0o777, 0o700);

      const stored = JSON.parse(await readFile(path, 'utf8')) as StoredCredentials;
      assert.equal(stored.issuer, idp.issuer);
      assert.equal(stored.clientId, 'faas-cli');
      assert.equal(stored.grantType, 'device_code');
      assert.equal(typeof stored.accessToken, 'string');
      assert.equal(typeof stored.refreshToken, 'string');
      assert.ok(Date.parse(stored.accessTokenExpiresAt) > Date.now() + 60_000);

      const report = await whoami();
      assert.equal(report.user, 'alice');
      assert.deepEqual(report.roles, ['faas-user']);
      assert.equal(report.client, 'faas-cli');
      assert.equal(report.issuer, idp.issuer);
      assert.equal(report.source, 'credentials file');
      assert.equal(report.credentialsFile, path);
    });

    it('logs in from another program', async () => {
      const prompts: string[] = [];
      const credentials = await loginWithDeviceFlow({
        env,
        onPrompt: async (_uri, userCode) => {
          prompts.push(userCode);
          await idp.approveDevice(userCode, 'admin');
        },
      });

      assert.equal(prompts.length, 1);
      assert.deepEqual(await loadCredentials(env), credentials);
      const report = await whoami();
      assert.equal(report.user, 'admin');
      assert.deepEqual(report.roles, ['faas-user', 'faas-admin']);
    });

    it('prints the text form of whoami', async () => {
      await storeAliceCredentials();

      const run = await runCli(['whoami'], env);

      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^user: +alice$/m);
      assert.match(run.stdout, /^roles: +faas-user$/m);
      assert.match(run.stdout, /^client: +faas-cli$/m);
      assert.match(run.stdout, /^expires: +\S+Z \(in \d+ min \d+ s\)$/m);
    });
  });

  describe('renewal', () => {
    it('refreshes an expiring token and saves the rotated refresh token', async () => {
      const before = await storeAliceCredentials();
      await expireStoredToken();

      const report = await whoami();

      assert.equal(report.user, 'alice');
      const after = await loadCredentials(env);
      assert.ok(after);
      assert.notEqual(after.accessToken, before.accessToken);
      assert.notEqual(after.refreshToken, before.refreshToken);
      assert.ok(Date.parse(after.accessTokenExpiresAt) > Date.now() + 60_000);
      assert.equal((await stat(credentialsPath(env))).mode & 0o777, 0o600);

      // The provider revokes the session when a spent refresh token comes back,
      // so a second renewal succeeds only if the newest one was stored.
      await expireStoredToken();
      const renewedAgain = await storedAccessToken(env);
      assert.ok(renewedAgain);
      assert.notEqual(renewedAgain, after.accessToken);
    });

    it('spends the refresh token once for concurrent commands', async () => {
      await storeAliceCredentials();
      await expireStoredToken();

      const tokens = await Promise.all([storedAccessToken(env), storedAccessToken(env), storedAccessToken(env)]);

      assert.equal(new Set(tokens).size, 1, 'every command got the one renewed token');
      await expireStoredToken();
      assert.ok(await storedAccessToken(env), 'the session survived');
    });

    it('removes a stale lock file', async () => {
      await storeAliceCredentials();
      const before = await expireStoredToken();
      const lockPath = join(workDir, 'config', 'credentials.json.lock');
      await writeFile(lockPath, '999999\n');
      const twoMinutesAgo = new Date(Date.now() - 120_000);
      await utimes(lockPath, twoMinutesAgo, twoMinutesAgo);

      const token = await storedAccessToken(env);

      assert.notEqual(token, before.accessToken);
      await assert.rejects(stat(lockPath), { code: 'ENOENT' });
    });

    it('reports an invalid credentials file', async () => {
      await storeAliceCredentials();
      await writeFile(credentialsPath(env), '{"version": 1}');

      const run = await runCli(['whoami'], env);

      assert.equal(run.code, 1);
      assert.equal(
        run.stderr,
        `faas: invalid credentials file ${credentialsPath(env)}: missing issuer. Run "faas login" to replace it\n`,
      );
    });

    it('tells the user to log in when the refresh fails', async () => {
      await storeAliceCredentials({ refreshToken: 'not-a-refresh-token' });
      await expireStoredToken();

      const run = await runCli(['whoami'], env);

      assert.equal(run.code, 1);
      assert.equal(run.stderr.split('\n').length, 2, `one line: ${run.stderr}`);
      assert.match(run.stderr, /^faas: failed to renew the access token from .*invalid_grant.*Run "faas login"\n$/);
    });

    it('fails a gateway command before calling when the refresh fails', async () => {
      let calls = 0;
      const server = await startTestServer({
        list: (_call, callback) => {
          calls++;
          callback(null, ListResponse.fromPartial({}));
        },
      });
      try {
        await storeAliceCredentials({ refreshToken: 'not-a-refresh-token' });
        await expireStoredToken();

        const run = await runCli(['list', '--server', server.address], env);

        assert.equal(run.code, 1);
        assert.match(run.stderr, /^faas: failed to renew the access token .*Run "faas login"\n$/);
        assert.equal(calls, 0);
      } finally {
        server.close();
      }
    });
  });

  describe('client credentials grant', () => {
    it('logs in as the service account', async () => {
      const secretFile = join(workDir, 'secret');
      await writeFile(secretFile, `${serviceSecret}\n`);

      const run = await runCli(['login', '--client-id', 'faas-service', '--client-secret-file', secretFile], env);

      assert.equal(run.code, 0, run.stderr);
      const text = await readFile(credentialsPath(env), 'utf8');
      assert.ok(!text.includes(serviceSecret), 'the secret is not stored');
      const stored = JSON.parse(text) as StoredCredentials;
      assert.equal(stored.grantType, 'client_credentials');
      assert.equal(stored.clientSecretFile, secretFile);
      assert.equal(stored.refreshToken, undefined);

      const report = await whoami();
      assert.equal(report.user, 'service-account-faas-service');
      assert.equal(report.client, 'faas-service');
      assert.deepEqual(report.roles, ['faas-user']);
    });

    it('requests a new token with the stored secret file', async () => {
      const secretFile = join(workDir, 'secret');
      await writeFile(secretFile, serviceSecret);
      assert.equal((await runCli(['login', '--client-id', 'faas-service', '--client-secret-file', secretFile], env)).code, 0);
      const before = await expireStoredToken();

      const report = await whoami();

      assert.equal(report.user, 'service-account-faas-service');
      const after = await loadCredentials(env);
      assert.notEqual(after?.accessToken, before.accessToken);
    });

    it('rejects a wrong secret in one line', async () => {
      const secretFile = join(workDir, 'secret');
      await writeFile(secretFile, 'wrong-secret\n');

      const run = await runCli(['login', '--client-id', 'faas-service', '--client-secret-file', secretFile], env);

      assert.equal(run.code, 1);
      assert.equal(run.stderr.split('\n').length, 2, `one line: ${run.stderr}`);
      assert.match(run.stderr, /^faas: login failed: .*invalid_client.*Check the client id and the secret in /);
      assert.ok(run.stderr.includes(secretFile));
      assert.equal(await loadCredentials(env), undefined);
    });

    it('names the secret file option for a confidential client', async () => {
      const run = await runCli(['login', '--client-id', 'faas-service'], env);

      assert.equal(run.code, 1);
      assert.equal(run.stderr.split('\n').length, 2, `one line: ${run.stderr}`);
      assert.match(run.stderr, /^faas: login failed: .*invalid_client.*; for a service account, add --client-secret-file FILE\n$/);
    });

    it('rejects a missing secret file', async () => {
      const secretFile = join(workDir, 'missing');

      const run = await runCli(['login', '--client-id', 'faas-service', '--client-secret-file', secretFile], env);

      assert.equal(run.code, 1);
      assert.equal(run.stderr, `faas: login failed: failed to read the client secret file ${secretFile}: no such file\n`);
    });

    it('requires --client-id with --client-secret-file', async () => {
      const run = await runCli(['login', '--client-secret-file', join(workDir, 'secret')], env);

      assert.equal(run.code, 2);
      assert.match(run.stderr, /--client-secret-file requires --client-id/);
    });
  });

  describe('logout', () => {
    it('deletes the file and revokes the refresh token', async () => {
      const stored = await storeAliceCredentials();

      const run = await runCli(['logout'], env);

      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, `Logged out: deleted ${credentialsPath(env)}\n`);
      await assert.rejects(stat(credentialsPath(env)), { code: 'ENOENT' });
      await assert.rejects(
        refresh({ issuer: idp.issuer, clientId: 'faas-cli', refreshToken: stored.refreshToken ?? '' }),
        (error: unknown) => error instanceof OidcError && error.error === 'invalid_grant',
      );
    });

    it('succeeds when not logged in', async () => {
      const run = await runCli(['logout'], env);

      assert.equal(run.code, 0);
      assert.match(run.stderr, /^Not logged in: there is no /);
    });
  });

  describe('token choice', () => {
    it('prefers FAAS_TOKEN over the file', async () => {
      await storeAliceCredentials();
      const serviceToken = await idp.serviceToken('faas-service', serviceSecret);

      const report = await whoami({ ...env, FAAS_TOKEN: serviceToken });

      assert.equal(report.user, 'service-account-faas-service');
      assert.equal(report.source, 'FAAS_TOKEN');
      assert.equal(report.credentialsFile, null);
    });

    it('reports whoami without any token', async () => {
      const run = await runCli(['whoami'], env);

      assert.equal(run.code, 1);
      assert.match(run.stderr, /^faas: not logged in: .*Run "faas login"\n$/);
    });

    it('prints the token that job commands send, renewed first', async () => {
      const before = await storeAliceCredentials();
      await expireStoredToken();

      const run = await runCli(['token'], env);

      assert.equal(run.code, 0, run.stderr);
      const after = await loadCredentials(env);
      assert.notEqual(after?.accessToken, before.accessToken);
      assert.equal(run.stdout, `${after?.accessToken}\n`);
      const serviceToken = await idp.serviceToken('faas-service', serviceSecret);
      assert.equal((await runCli(['token'], { ...env, FAAS_TOKEN: serviceToken })).stdout, `${serviceToken}\n`);
    });

    it('reports token without any token', async () => {
      const run = await runCli(['token'], env);

      assert.equal(run.code, 1);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^faas: not logged in: .*Run "faas login"\n$/);
    });
  });

  describe('gateway calls', () => {
    let server: TestServer | undefined;
    let authorization: unknown[] = [];
    let rejectWith: ServerErrorResponse | undefined;

    beforeEach(async () => {
      authorization = [];
      rejectWith = undefined;
      server = await startTestServer({
        list: (call, callback) => {
          authorization.push(...call.metadata.get('authorization'));
          if (rejectWith !== undefined) callback(rejectWith);
          else callback(null, ListResponse.fromPartial({}));
        },
      });
    });

    afterEach(() => {
      server?.close();
      server = undefined;
    });

    it('sends the stored token', async () => {
      const stored = await storeAliceCredentials();

      const run = await runCli(['list', '--server', server!.address], env);

      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(authorization, [`Bearer ${stored.accessToken}`]);
    });

    it('sends FAAS_TOKEN instead of the stored token', async () => {
      await storeAliceCredentials();

      const run = await runCli(['list', '--server', server!.address], { ...env, FAAS_TOKEN: 'from-env' });

      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(authorization, ['Bearer from-env']);
    });

    it('sends no token without credentials', async () => {
      const run = await runCli(['list', '--server', server!.address], env);

      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(authorization, []);
    });

    it('hints at faas login on UNAUTHENTICATED', async () => {
      rejectWith = statusError(GrpcStatus.UNAUTHENTICATED, 'invalid token: signature verification failed');

      const run = await runCli(['list', '--server', server!.address], env);

      assert.equal(run.code, 1);
      assert.equal(run.stderr, 'faas: UNAUTHENTICATED: invalid token: signature verification failed (run "faas login")\n');
    });

    it('names FAAS_TOKEN on UNAUTHENTICATED', async () => {
      rejectWith = statusError(GrpcStatus.UNAUTHENTICATED, 'invalid token: it has expired; get a new one (faas login)');

      const run = await runCli(['list', '--server', server!.address], { ...env, FAAS_TOKEN: 'stale' });

      assert.equal(run.code, 1);
      assert.match(run.stderr, /^faas: UNAUTHENTICATED: .*\(the token came from FAAS_TOKEN; set a valid one, or unset it and run "faas login"\)\n$/);
    });
  });
});

/** Scripted token endpoint responses for the device flow, one per poll. */
type PollResponse = { status: number; body: Record<string, unknown> };

interface FakeProvider {
  issuer: string;
  pollTimes: number[];
  close(): Promise<void>;
}

/** Starts a minimal provider on 127.0.0.1 whose token endpoint returns `polls` in order. */
async function startFakeProvider(device: Record<string, unknown>, polls: PollResponse[]): Promise<FakeProvider> {
  const pollTimes: number[] = [];
  let issuer = '';
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const send = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    request.resume();
    request.on('end', () => {
      if (request.url?.endsWith('/.well-known/openid-configuration')) {
        send(200, { issuer, token_endpoint: `${issuer}/token`, device_authorization_endpoint: `${issuer}/device` });
      } else if (request.url === '/device') {
        send(200, { device_code: 'device-code', user_code: 'ABCD-EFGH', verification_uri: `${issuer}/verify`, ...device });
      } else if (request.url === '/token') {
        pollTimes.push(Date.now());
        const next = polls.shift() ?? { status: 400, body: { error: 'authorization_pending' } };
        send(next.status, next.body);
      } else {
        send(404, { error: 'not_found' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null, 'the server listens');
  assert.ok(typeof address === 'object', 'the server listens on TCP');
  issuer = `http://127.0.0.1:${address.port}`;

  return {
    issuer,
    pollTimes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('deviceLogin polling', function () {
  this.timeout(30_000);

  const pending = { status: 400, body: { error: 'authorization_pending' } };
  const granted = { status: 200, body: { access_token: 'access', token_type: 'Bearer', expires_in: 300, refresh_token: 'refresh' } };
  let provider: FakeProvider | undefined;

  afterEach(async () => {
    await provider?.close();
    provider = undefined;
  });

  it('adds 5 s to the interval after slow_down', async () => {
    provider = await startFakeProvider({ expires_in: 60, interval: 1 }, [
      pending,
      { status: 400, body: { error: 'slow_down' } },
      granted,
    ]);
    const prompts: string[] = [];

    const tokens = await deviceLogin({
      issuer: provider.issuer,
      clientId: 'faas-cli',
      onPrompt: (uri, userCode) => {
        prompts.push(`${uri} ${userCode}`);
      },
    });

    assert.equal(tokens.accessToken, 'access');
    assert.equal(tokens.refreshToken, 'refresh');
    assert.deepEqual(prompts, [`${provider.issuer}/verify ABCD-EFGH`]);
    const [first, second, third] = provider.pollTimes;
    assert.ok(second - first >= 950, `pending poll waited the interval: ${second - first} ms`);
    assert.ok(third - second >= 5_950, `slow_down raised the interval to 6 s: ${third - second} ms`);
  });

  it('stops on access_denied', async () => {
    provider = await startFakeProvider({ expires_in: 60, interval: 1 }, [{ status: 400, body: { error: 'access_denied' } }]);

    await assert.rejects(
      deviceLogin({ issuer: provider.issuer, clientId: 'faas-cli', onPrompt: () => {} }),
      (error: unknown) => error instanceof OidcError && error.error === 'access_denied',
    );
  });

  it('stops on expired_token', async () => {
    provider = await startFakeProvider({ expires_in: 60, interval: 1 }, [{ status: 400, body: { error: 'expired_token' } }]);

    await assert.rejects(
      deviceLogin({ issuer: provider.issuer, clientId: 'faas-cli', onPrompt: () => {} }),
      /the login timed out: user code ABCD-EFGH expired before it was approved/,
    );
  });

  it('gives up when expires_in has passed', async () => {
    provider = await startFakeProvider({ expires_in: 3, interval: 1 }, []);
    const started = Date.now();

    await assert.rejects(
      deviceLogin({ issuer: provider.issuer, clientId: 'faas-cli', onPrompt: () => {} }),
      /was not approved within 3 s/,
    );

    assert.ok(Date.now() - started < 4_000, 'stopped within expires_in');
    assert.ok(provider.pollTimes.length >= 1, `polls: ${provider.pollTimes.length}`);
    assert.ok(provider.pollTimes.length <= 3, `polls: ${provider.pollTimes.length}`);
  });

  it('rejects a discovery document of another issuer', async () => {
    provider = await startFakeProvider({}, []);

    await assert.rejects(
      deviceLogin({ issuer: `${provider.issuer}/realms/other`, clientId: 'faas-cli', onPrompt: () => {} }),
      /discovery at .* returned issuer http:\/\/127\.0\.0\.1:\d+, expected .*\/realms\/other$/,
    );
  });
});
