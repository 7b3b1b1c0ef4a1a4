import { rmSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { FaasClient } from '../client/client.js';
import { FaasClientError } from '../client/errors.js';
import type { Job } from '../gen/faas/v1/job.js';
import type { LogsResponse } from '../gen/faas/v1/job_service.js';
import { createLogger, type Logger } from '../common/logger.js';
import { ensureDevCertificates, type DevCertificates } from '../dev/certificates.js';
import { startGitHttpServer, type GitHttpServer } from '../dev/git-http-server.js';
import {
  defaultDevServiceAccounts,
  defaultDevUsers,
  startDevIdentityProvider,
  type DevIdentityProvider,
} from '../dev/identity-provider.js';
import { identityDefaults } from '../common/identity-defaults.js';
import { natsNames } from '../common/nats-names.js';
import { createRepository, type CreateRepositoryOptions, type RepositoryFiles } from '../dev/git-repositories.js';
import { startNatsServer, type NatsServerHandle } from '../dev/nats-server.js';
import { readGatewayConfig, type GatewayConfig } from '../services/gateway/config.js';
import { startGateway, type RunningGateway } from '../services/gateway/gateway.js';
import { readSchedulerConfig, type SchedulerConfig } from '../services/scheduler/config.js';
import { startScheduler, type RunningScheduler } from '../services/scheduler/scheduler.js';
import { readWorkerConfig, type WorkerConfig } from '../services/worker/config.js';
import { readObserverConfig, type ObserverConfig } from '../services/observer/config.js';
import { startObserver, type RunningObserver } from '../services/observer/observer.js';
import { readMeshTls } from '../common/tls.js';
import { startWorker, type RunningWorker } from '../services/worker/worker.js';

let certificates: Promise<DevCertificates> | undefined;

/** Returns the development certificates, made once per test process. */
export function testCertificates(): Promise<DevCertificates> {
  if (!certificates) {
    const dir = join(tmpdir(), `faas-test-certs-${process.pid}`);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    certificates = ensureDevCertificates(dir);
  }
  return certificates;
}

/** Users the test provider signs in besides alice and admin: bob is a second user, carol has no role. */
export const testUsers = [
  { username: 'bob', roles: [identityDefaults.userRole] },
  { username: 'carol', roles: [] as string[] },
];

export interface MeshOptions {
  /** Workers to start; 0 leaves jobs queued. Default 1. */
  workers?: number;
  slots?: number;
  scheduler?: Partial<SchedulerConfig>;
  worker?: Partial<WorkerConfig>;
  auth?: Partial<GatewayConfig['auth']>;
  /** Serve the public port with TLS, using the development gateway certificate. */
  gatewayTls?: boolean;
  /** Start an observer too, with these settings over the test defaults. */
  observer?: Partial<ObserverConfig>;
  /** Create the job bucket without republishing before the scheduler starts, as an older version did. */
  bucketWithoutRepublish?: boolean;
}

/**
 * A whole mesh for end-to-end tests, every part real: nats-server on a free
 * loopback port with its own store, a git server over HTTP on loopback, and
 * the scheduler, workers and gateway on real sockets.
 */
export class Mesh {
  readonly log: Logger = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
  nats!: NatsServerHandle;
  certificates!: DevCertificates;
  identity!: DevIdentityProvider;
  private readonly clients: FaasClient[] = [];
  git!: GitHttpServer;
  scheduler!: RunningScheduler;
  gateway!: RunningGateway;
  workers: RunningWorker[] = [];
  observer?: RunningObserver;
  client!: FaasClient;
  private dir!: string;
  private readonly prefix = `T${randomBytes(4).toString('hex')}`;

  static async start(options: MeshOptions = {}): Promise<Mesh> {
    const mesh = new Mesh();
    await mesh.boot(options);
    return mesh;
  }

  private async boot(options: MeshOptions): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'faas-test-'));
    // Sandboxed jobs run as unprivileged users, who must be able to reach their folders.
    await chmod(this.dir, 0o711);
    this.nats = await startNatsServer({ storeDir: join(this.dir, 'nats') });
    this.git = await startGitHttpServer(join(this.dir, 'repos'));
    this.certificates = await testCertificates();
    this.identity = await startDevIdentityProvider({ users: [...defaultDevUsers, ...testUsers] });
    if (options.bucketWithoutRepublish) {
      const nc = await connect({ servers: this.nats.url });
      await new Kvm(jetstream(nc)).create(natsNames(this.prefix).jobsBucket, { history: 32 });
      await nc.close();
    }
    this.scheduler = await startScheduler(
      {
        ...readSchedulerConfig({}),
        tls: readMeshTls(this.certificates.env('scheduler')),
        listenAddress: '127.0.0.1:0',
        natsUrl: this.nats.url,
        natsPrefix: this.prefix,
        heartbeatIntervalMs: 500,
        ackWaitMs: 5_000,
        adoptionGraceMs: 5_000,
        retryBaseDelayMs: 200,
        ...options.scheduler,
      },
      this.log.child({ service: 'scheduler' }),
    );
    for (let i = 0; i < (options.workers ?? 1); i++) await this.addWorker(options);
    if (options.observer) {
      this.observer = await startObserver(
        {
          ...readObserverConfig({}),
          listenAddress: '127.0.0.1:0',
          natsUrl: this.nats.url,
          natsPrefix: this.prefix,
          schedulerAddress: this.scheduler.address,
          intervalMs: 60_000,
          tls: readMeshTls(this.certificates.env('observer')),
          ...options.observer,
        },
        this.log.child({ service: 'observer' }),
      );
    }
    this.gateway = await startGateway(
      {
        ...readGatewayConfig({ FAAS_OIDC_ISSUER: this.identity.issuer }),
        listenAddress: '127.0.0.1:0',
        schedulerAddress: this.scheduler.address,
        observerAddress: this.observer?.address ?? '127.0.0.1:9',
        allowHttp: true,
        meshTls: readMeshTls(this.certificates.env('gateway')),
        publicTls: options.gatewayTls ? this.certificates.services.gateway : undefined,
        auth: { ...readGatewayConfig({ FAAS_OIDC_ISSUER: this.identity.issuer }).auth, ...options.auth },
      },
      this.log.child({ service: 'gateway' }),
    );
    if (!options.gatewayTls) this.client = await this.clientFor('alice');
  }

  /** Returns a client that calls the gateway with `username`'s access token from the provider. */
  async clientFor(username: string): Promise<FaasClient> {
    return this.clientWithToken(await this.identity.userToken(username));
  }

  /** Returns a client that calls the gateway with the service account's token. */
  async serviceClient(): Promise<FaasClient> {
    const account = defaultDevServiceAccounts[0];
    return this.clientWithToken(await this.identity.serviceToken(account.clientId, account.secret));
  }

  clientWithToken(token: string | undefined): FaasClient {
    const client = new FaasClient({ address: this.gateway.address, deadlineMs: 20_000, token, retries: 2 });
    this.clients.push(client);
    return client;
  }

  async addWorker(options: MeshOptions = {}): Promise<RunningWorker> {
    const index = this.workers.length;
    const worker = await startWorker(
      {
        ...readWorkerConfig({}),
        schedulerAddress: this.scheduler.address,
        tls: readMeshTls(this.certificates.env('worker')),
        workerId: `worker-${index}-${this.prefix}`,
        workDir: this.workerDir(index),
        slots: options.slots ?? 2,
        allowHttp: true,
        // The test git server is on loopback.
        allowedAddresses: ['127.0.0.0/8', '::1/128'],
        shutdownGraceMs: 2_000,
        stopGraceMs: 2_000,
        ...options.worker,
      },
      this.log.child({ service: 'worker' }),
    );
    this.workers.push(worker);
    await waitFor(() => this.scheduler.context.pool.has(worker.workerId), 10_000, 'worker to connect');
    return worker;
  }

  /** Returns the work folder of worker `index`, where its job folders are. */
  workerDir(index: number): string {
    return join(this.dir, `worker-${index}`);
  }

  /** Creates a repository served by the mesh's git server and returns its URL. */
  async repository(files: RepositoryFiles, options?: CreateRepositoryOptions): Promise<{ url: string; commitSha: string }> {
    const name = `repo-${randomBytes(4).toString('hex')}`;
    const created = await createRepository(join(this.dir, 'repos'), name, files, options);
    return { url: this.git.repositoryUrl(name), commitSha: created.commitSha };
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    await this.gateway?.stop();
    for (const worker of this.workers) await worker.stop();
    await this.observer?.stop();
    await this.scheduler?.stop();
    await this.git?.stop();
    await this.identity?.stop();
    await this.nats?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Follows a job with Watch and returns its last record, in a final state. */
export async function finalRecord(mesh: Mesh, jobId: string): Promise<Job> {
  let last: Job | undefined;
  for await (const job of mesh.client.watch(jobId)) last = job;
  assert.ok(last, 'watch yielded no record');
  return last;
}

/** Asserts that log chunks follow each other from offset 0, with no gap and no byte twice. */
export function assertContiguousLog(chunks: LogsResponse[]): void {
  let offset = 0;
  for (const chunk of chunks) {
    assert.equal(chunk.offset, offset, 'log offsets have no gap and no duplicate');
    offset += chunk.data.length;
  }
}

/** Returns the FaasClientError a call fails with, and fails the test if it succeeds. */
export async function rejection(promise: Promise<unknown>): Promise<FaasClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FaasClientError, `expected FaasClientError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}
