import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { Metadata, credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { SignJWT, decodeJwt, exportJWK, importJWK, type JWTPayload } from 'jose';
import { FaasClientError } from '../client/errors.js';
import type { FaasClient } from '../client/client.js';
import { JobState } from '../gen/faas/v1/job.js';
import { JobServiceClient, type StatusResponse } from '../gen/faas/v1/job_service.js';
import { identityDefaults } from '../common/identity-defaults.js';
import { Mesh, rejection } from './harness.js';
import { finishedEntryKey } from '../services/scheduler/finished-index.js';

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('authentication and ownership', function () {
  this.timeout(60_000);
  let mesh: Mesh;
  let repoUrl: string;

  /** Claims of a valid token from the mesh's provider, for alice. */
  const claims = (): JWTPayload => ({
    iss: mesh.identity.issuer,
    aud: identityDefaults.audience,
    sub: 'forged-subject',
    azp: identityDefaults.cliClientId,
    preferred_username: 'alice',
    realm_access: { roles: [identityDefaults.userRole] },
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 300,
  });

  before(async () => {
    mesh = await Mesh.start({ workers: 1, auth: { jwksCooldownMs: 1_000 } });
    repoUrl = (await mesh.repository({ 'main.sh': 'echo hi\n' })).url;
  });
  after(async () => {
    await mesh?.stop();
  });

  describe('valid tokens', () => {
    it('accepts a user token and records its subject as owner', async () => {
      const token = await mesh.identity.userToken('alice');
      const { job } = await mesh.clientWithToken(token).submit({ repositoryUrl: repoUrl });
      assert.equal(job!.owner, decodeJwt(token).sub);
      assert.equal(job!.ownerName, 'alice');
    });

    it('accepts a service-account token', async () => {
      const client = await mesh.serviceClient();
      const { job } = await client.submit({ repositoryUrl: repoUrl });
      assert.equal(job!.state, JobState.JOB_STATE_QUEUED);
      const status = await client.status(job!.id);
      assert.equal(status.id, job!.id);
    });

    it('uses azp as owner when a token has no sub', async () => {
      const payload = { ...claims(), azp: 'machine-client' };
      delete payload.sub;
      const client = mesh.clientWithToken(await mesh.identity.signWithCurrentKey(payload));
      const { job } = await client.submit({ repositoryUrl: repoUrl });
      assert.equal(job!.owner, 'machine-client');
    });
  });

  describe('rejected tokens', () => {
    const cases: Array<[string, () => Promise<string | undefined>, RegExp]> = [
      ['no token', async () => undefined, /missing bearer token/],
      ['malformed token', async () => 'not.a.jwt', /malformed/],
      ['expired token', async () => mesh.identity.signWithCurrentKey({ ...claims(), exp: Math.floor(Date.now() / 1000) - 120 }), /expired/],
      ['token not yet valid', async () => mesh.identity.signWithCurrentKey({ ...claims(), nbf: Math.floor(Date.now() / 1000) + 300 }), /not valid yet/],
      ['wrong issuer', async () => mesh.identity.signWithCurrentKey({ ...claims(), iss: 'http://127.0.0.1:1/realms/other' }), /wrong issuer/],
      ['wrong audience', async () => mesh.identity.signWithCurrentKey({ ...claims(), aud: 'account' }), /wrong audience; expected "faas"/],
      [
        'alg none',
        async () => {
          const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
          return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims())}.`;
        },
        /invalid token/,
      ],
      [
        'HMAC signed with the public key',
        async () => {
          const jwks = (await (await fetch(mesh.identity.jwksUri)).json()) as { keys: Array<Record<string, string>> };
          const publicJwk = jwks.keys[0];
          const pem = createPublicKey({ key: publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
          return new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: publicJwk.kid }).sign(Buffer.from(pem));
        },
        /algorithm is not one of/,
      ],
      [
        'unknown kid',
        async () => {
          const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
          const key = await importJWK(await exportJWK(privateKey), 'RS256');
          return new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'not-a-provider-key' }).sign(key);
        },
        /unknown key/,
      ],
      [
        'tampered payload',
        async () => {
          const [header, , signature] = (await mesh.identity.userToken('alice')).split('.');
          const payload = Buffer.from(JSON.stringify({ ...claims(), realm_access: { roles: ['faas-admin'] } })).toString('base64url');
          return `${header}.${payload}.${signature}`;
        },
        /signature does not verify/,
      ],
    ];
    for (const [name, makeToken, message] of cases) {
      it(`rejects ${name} as UNAUTHENTICATED`, async () => {
        const client = mesh.clientWithToken(await makeToken());
        const error = await rejection(client.submit({ repositoryUrl: repoUrl }));
        assert.equal(error.codeName, 'UNAUTHENTICATED');
        assert.match(error.message, message);
      });
    }

    it('rejects a token without a role as PERMISSION_DENIED', async () => {
      const client = await mesh.clientFor('carol');
      const submitted = await rejection(client.submit({ repositoryUrl: repoUrl }));
      assert.equal(submitted.codeName, 'PERMISSION_DENIED');
      assert.match(submitted.message, /carol may not submit jobs: the token lacks role faas-user/);
      const listed = await rejection(client.list());
      assert.equal(listed.codeName, 'PERMISSION_DENIED');
    });
  });

  describe('key rotation', () => {
    it('accepts tokens of a new key without a restart', async () => {
      const before = await mesh.identity.userToken('alice');
      await mesh.client.list();
      await mesh.identity.rotateKeys();
      const after = await mesh.identity.userToken('alice');
      assert.notEqual(JSON.parse(Buffer.from(after.split('.')[0], 'base64url').toString()).kid, JSON.parse(Buffer.from(before.split('.')[0], 'base64url').toString()).kid);
      // The gateway fetches the key set again once the cool-down since its last fetch has passed.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const response = await mesh.clientWithToken(after).list();
      assert.ok(Array.isArray(response.jobs));
    });
  });

  describe('ownership', () => {
    let alice: FaasClient;
    let bob: FaasClient;
    let admin: FaasClient;
    let jobId: string;

    before(async () => {
      alice = await mesh.clientFor('alice');
      bob = await mesh.clientFor('bob');
      admin = await mesh.clientFor('admin');
      const slow = await mesh.repository({ 'main.sh': 'echo started\nsleep 30\n' });
      jobId = (await alice.submit({ repositoryUrl: slow.url })).job!.id;
    });

    it("hides alice's job from bob", async () => {
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['status', () => bob.status(jobId)],
        ['result', () => bob.result(jobId)],
        ['cancel', () => bob.cancel(jobId)],
        ['watch', () => drain(bob.watch(jobId))],
        ['logs', () => drain(bob.logs(jobId))],
      ];
      for (const [name, call] of calls) {
        const error = await rejection(call());
        assert.equal(error.codeName, 'NOT_FOUND', name);
        assert.match(error.message, new RegExp(`job ${jobId} not found`), name);
      }
      const listed = await bob.list({ pageSize: 500 });
      assert.ok(!listed.jobs.some((job) => job.id === jobId));
    });

    it('ignores a forwarded claims header', async () => {
      const token = await mesh.identity.userToken('bob');
      const forged = Buffer.from(JSON.stringify({ ...claims(), sub: decodeJwt(await mesh.identity.userToken('alice')).sub, realm_access: { roles: ['faas-admin'] } })).toString('base64url');
      const raw = new JobServiceClient(mesh.gateway.address, credentials.createInsecure());
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      metadata.set('x-jwt-payload', forged);
      const error = await new Promise<ServiceError | null>((resolve) => raw.status({ jobId }, metadata, (failure: ServiceError | null, _: StatusResponse) => resolve(failure)));
      raw.close();
      assert.equal(error?.code, 5, 'NOT_FOUND');
    });

    it('lets an admin read, list and cancel any job', async () => {
      const status = await admin.status(jobId);
      assert.equal(status.owner, (await alice.status(jobId)).owner);
      const listed = await admin.list({ pageSize: 500 });
      assert.ok(listed.jobs.some((job) => job.id === jobId));
      const chunks = [];
      for await (const chunk of admin.logs(jobId, { follow: true })) {
        chunks.push(chunk);
        if (chunk.data.toString().includes('started')) break;
      }
      assert.ok(chunks.length > 0);
      await admin.cancel(jobId, 'stopped by an admin');
      const records = await drain(admin.watch(jobId));
      assert.equal(records.at(-1)!.state, JobState.JOB_STATE_CANCELLED);
    });
  });

  describe('health', () => {
    it('answers without a token', async () => {
      const Health = makeGenericClientConstructor(
        {
          check: {
            path: '/grpc.health.v1.Health/Check',
            requestStream: false,
            responseStream: false,
            requestSerialize: (value: Buffer) => value,
            requestDeserialize: (value: Buffer) => value,
            responseSerialize: (value: Buffer) => value,
            responseDeserialize: (value: Buffer) => value,
          },
        },
        'Health',
      );
      const client = new Health(mesh.gateway.address, credentials.createInsecure()) as unknown as {
        check(request: Buffer, callback: (error: ServiceError | null, response: Buffer) => void): void;
        close(): void;
      };
      const response = await new Promise<Buffer>((resolve, reject) =>
        client.check(Buffer.alloc(0), (error, value) => (error ? reject(error) : resolve(value))),
      );
      client.close();
      // HealthCheckResponse{status: SERVING} is field 1, varint 1.
      assert.deepEqual([...response], [0x08, 0x01]);
    });
  });
});

describe('active job limit', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 0, scheduler: { maxActiveJobsPerOwner: 2 } });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('lets an owner queue up to the limit, atomically', async () => {
    const repo = await mesh.repository({ 'main.sh': 'true\n' });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => mesh.client.submit({ repositoryUrl: repo.url })));
    const accepted = results.filter((result) => result.status === 'fulfilled');
    const refused = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    assert.equal(accepted.length, 2);
    for (const { reason } of refused) {
      assert.ok(reason instanceof FaasClientError);
      assert.equal(reason.codeName, 'RESOURCE_EXHAUSTED');
      assert.match(reason.message, /the limit is 2/);
    }

    const bob = await mesh.clientFor('bob');
    await bob.submit({ repositoryUrl: repo.url });

    const first = (accepted[0] as PromiseFulfilledResult<Awaited<ReturnType<FaasClient['submit']>>>).value.job!;
    await mesh.client.cancel(first.id);
    const again = await mesh.client.submit({ repositoryUrl: repo.url });
    assert.equal(again.job!.state, JobState.JOB_STATE_QUEUED);
  });

  it('idempotency keys at the job limit', async () => {
    const repo = await mesh.repository({ 'main.sh': 'true\n' });
    const admin = await mesh.clientFor('admin');
    const running = await Promise.all([admin.submit({ repositoryUrl: repo.url }), admin.submit({ repositoryUrl: repo.url })]);
    const key = 'retry-after-the-limit';
    await assert.rejects(admin.submit({ repositoryUrl: repo.url, idempotencyKey: key }), { codeName: 'RESOURCE_EXHAUSTED' });

    // The key names no job: a retry must not wait for one that was never stored.
    const { store } = mesh.scheduler.context;
    const owner = running[0].job!.owner;
    const probe = await store.claimIdempotencyKey(owner, key, 'probe');
    assert.equal(probe.existing, false);
    await store.dropIdempotencyKey(owner, key, probe.revision!);

    await admin.cancel(running[0].job!.id);
    const retried = await admin.submit({ repositoryUrl: repo.url, idempotencyKey: key });
    assert.equal(retried.existing, false);
    assert.equal(retried.job!.state, JobState.JOB_STATE_QUEUED);
    // At the limit again, which the retried job reached: a retry of its Submit still gets it.
    const again = await admin.submit({ repositoryUrl: repo.url, idempotencyKey: key });
    assert.deepEqual([again.existing, again.job!.id], [true, retried.job!.id]);
  });

  it('keeps listing a finished job whose index entry was not written', async () => {
    const repo = await mesh.repository({ 'main.sh': 'true\n' });
    const bob = await mesh.clientFor('bob');
    for (const job of (await bob.list({ state: JobState.JOB_STATE_QUEUED })).jobs) await bob.cancel(job.id);
    const queued = (await bob.submit({ repositoryUrl: repo.url })).job!;
    const ended = (await bob.submit({ repositoryUrl: repo.url })).job!;
    await bob.cancel(ended.id);

    // As after a failed index write: no index entry, and the slot stays taken.
    const { index } = mesh.scheduler.context.nats;
    const owner = Buffer.from(ended.owner).toString('base64url');
    await mesh.scheduler.context.store.finished.remove({ jobId: ended.id, owner: ended.owner, key: finishedEntryKey(ended.owner, JobState.JOB_STATE_CANCELLED, ended.id) });
    const slots = `a.${owner}`;
    const active = (await index.get(slots))!.json<Array<{ id: string; at: number }>>();
    await index.put(slots, new TextEncoder().encode(JSON.stringify([...active, { id: ended.id, at: Date.now() - 60_000 }])));

    // At the limit, Submit frees the slots of finished jobs.
    await bob.submit({ repositoryUrl: repo.url });
    const listed = (await bob.list({ pageSize: 50 })).jobs;
    assert.deepEqual(listed.find((job) => job.id === ended.id)?.state, JobState.JOB_STATE_CANCELLED);
    assert.equal(listed.some((job) => job.id === queued.id), true);
  });
});
