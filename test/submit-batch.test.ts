import assert from 'node:assert/strict';
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { JobState } from '../gen/faas/v1/job.js';
import { JobServiceClient, SubmitRequest, SubmitResponse, type SubmitBatchRequest, type SubmitBatchResponse } from '../gen/faas/v1/job_service.js';
import { startTestServer, type TestServer } from '../client/test-server.js';
import { readGatewayConfig } from '../services/gateway/config.js';
import { startGateway, type RunningGateway } from '../services/gateway/gateway.js';
import { finalRecord, Mesh, rejection } from './harness.js';

/** Sends one SubmitBatch with the generated client, so the call's own status can be checked. */
function submitBatch(address: string, request: SubmitBatchRequest, token: string | undefined): Promise<SubmitBatchResponse> {
  const stub = new JobServiceClient(address, credentials.createInsecure());
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return new Promise<SubmitBatchResponse>((resolve, reject) => {
    stub.submitBatch(request, metadata, { deadline: Date.now() + 20_000 }, (error, response) => {
      stub.close();
      if (error) reject(error);
      else resolve(response);
    });
  });
}

async function callStatus(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  assert.fail('expected the call to fail');
}

describe('SubmitBatch', function () {
  this.timeout(120_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 1, slots: 4, scheduler: { maxActiveJobsPerOwner: 20 } });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('answers each request in order', async () => {
    const repo = await mesh.repository({ 'main.sh': 'echo "job $1"\n' });
    const { jsm, names } = mesh.scheduler.context.nats;
    const before = await jsm.streams.info(names.jobStream);
    const request: SubmitBatchRequest = {
      requests: [
        SubmitRequest.fromPartial({ spec: { repositoryUrl: repo.url, args: ['one'], idempotencyKey: 'batch-one' } }),
        SubmitRequest.fromPartial({ spec: { repositoryUrl: 'ftp://example.com/repo.git' } }),
        SubmitRequest.fromPartial({ spec: { repositoryUrl: repo.url, args: ['two'], idempotencyKey: 'batch-two' } }),
        SubmitRequest.fromPartial({ spec: { repositoryUrl: repo.url, args: ['other'], idempotencyKey: 'batch-one' } }),
        SubmitRequest.fromPartial({}),
      ],
    };

    const response = await submitBatch(mesh.gateway.address, request, await mesh.identity.userToken('alice'));

    assert.equal(response.entries.length, 5);
    const [one, badUrl, two, reused, noSpec] = response.entries;
    assert.equal(badUrl.error?.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(badUrl.error?.message ?? '', /repository_url.*scheme "ftp"/);
    assert.equal(noSpec.error?.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(noSpec.error?.message ?? '', /^spec: is required/);
    // The two requests with one key race, and the later one finds the key used with another spec.
    const accepted = [one, two, reused].filter((entry) => entry.submitted);
    const conflicts = [one, reused].filter((entry) => entry.error);
    assert.equal(accepted.length, 2, JSON.stringify(response.entries));
    assert.equal(conflicts.length, 1);
    assert.equal(conflicts[0].error?.code, GrpcStatus.ALREADY_EXISTS);
    assert.ok(two.submitted);
    const after = await jsm.streams.info(names.jobStream);
    assert.equal(after.state.last_seq - before.state.last_seq, 2, 'one queue message per accepted request');

    const alice = mesh.client;
    for (const entry of accepted) {
      const job = entry.submitted!.job!;
      assert.equal(job.state, JobState.JOB_STATE_QUEUED);
      assert.equal(entry.submitted!.existing, false);
      assert.equal((await finalRecord(mesh, job.id)).state, JobState.JOB_STATE_SUCCEEDED);
      const { result } = await alice.result(job.id);
      assert.equal(result!.stdout.toString(), `job ${job.spec!.args[0]}\n`);
    }
    const single = await alice.submit({ repositoryUrl: repo.url, args: ['single'] });
    assert.equal(two.submitted!.job!.owner, single.job!.owner, 'the jobs belong to the caller');
    await finalRecord(mesh, single.job!.id);
  });

  it('fails the call for bad batches', async () => {
    const token = await mesh.identity.userToken('alice');
    const spec = { repositoryUrl: 'https://example.com/repo.git' };

    const empty = await callStatus(submitBatch(mesh.gateway.address, { requests: [] }, token));
    assert.equal(empty.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(empty.details, /^requests: is empty; send 1 to 100 requests/);

    const tooMany = await callStatus(submitBatch(mesh.gateway.address, { requests: Array.from({ length: 101 }, () => SubmitRequest.fromPartial({ spec })) }, token));
    assert.equal(tooMany.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(tooMany.details, /^requests: has 101 requests; send at most 100 per call/);

    const anonymous = await callStatus(submitBatch(mesh.gateway.address, { requests: [SubmitRequest.fromPartial({ spec })] }, undefined));
    assert.equal(anonymous.code, GrpcStatus.UNAUTHENTICATED);
  });

  it('applies the owner limit per request', async () => {
    const repo = await mesh.repository({ 'main.sh': 'sleep 1\n' });
    const outcomes = await Promise.allSettled(Array.from({ length: 25 }, () => mesh.client.submit({ repositoryUrl: repo.url })));

    const accepted = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const rejected = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as { codeName: string; message: string }] : []));
    assert.equal(accepted.length, 20);
    assert.equal(rejected.length, 5);
    for (const error of rejected) {
      assert.equal(error.codeName, 'RESOURCE_EXHAUSTED');
      assert.match(error.message, /the limit is 20/);
    }
    for (const outcome of accepted) {
      if (outcome.status === 'fulfilled') await finalRecord(mesh, outcome.value.job!.id);
    }
  });
});

describe('SubmitBatch before a scheduler without it', function () {
  this.timeout(60_000);
  let mesh: Mesh;
  let scheduler: TestServer;
  let gateway: RunningGateway;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
    // A scheduler of an earlier version: Submit only, so SubmitBatch gets UNIMPLEMENTED.
    scheduler = await startTestServer({
      submit: (call, callback) => {
        const key = call.request.spec?.idempotencyKey ?? '';
        if (key === 'over-limit') callback({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'the limit is 20' });
        else callback(null, SubmitResponse.fromPartial({ job: { id: key } }));
      },
    });
    gateway = await startGateway(
      {
        ...readGatewayConfig({ FAAS_OIDC_ISSUER: mesh.identity.issuer }),
        listenAddress: '127.0.0.1:0',
        schedulerAddress: scheduler.address,
        observerAddress: '127.0.0.1:9',
        allowHttp: true,
        meshTls: undefined,
      },
      mesh.log.child({ service: 'gateway' }),
    );
  });
  after(async () => {
    await gateway?.stop();
    scheduler?.close();
    await mesh?.stop();
  });

  it('sends each request as Submit', async () => {
    const spec = { repositoryUrl: 'https://example.com/repo.git' };
    const request: SubmitBatchRequest = {
      requests: ['first', 'over-limit', 'third'].map((idempotencyKey) => SubmitRequest.fromPartial({ spec: { ...spec, idempotencyKey } })),
    };

    const response = await submitBatch(gateway.address, request, await mesh.identity.userToken('alice'));

    assert.equal(response.entries[0].submitted?.job?.id, 'first');
    assert.equal(response.entries[1].error?.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.equal(response.entries[1].error?.message, 'the limit is 20');
    assert.equal(response.entries[2].submitted?.job?.id, 'third');
  });
});
