import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { decodeJwt } from 'jose';
import { FaasClient, type SubmitSpec } from '../client/client.js';
import { forEachConcurrent } from '../common/concurrency.js';
import { isFinal } from '../common/job-states.js';
import { natsNames, type NatsNames } from '../common/nats-names.js';
import { startGitHttpServerProcess, type GitHttpServerProcess } from '../dev/git-http-server-process.js';
import { createRepository, type RepositoryFiles } from '../dev/git-repositories.js';
import { defaultDevServiceAccounts } from '../dev/identity-provider.js';
import { startStack, type Stack } from '../dev/stack.js';
import { JobSpec, JobState } from '../gen/faas/v1/job.js';
import { JobTracker } from './job-tracker.js';
import { trivialCommand, type Isolation } from './sandboxed-command.js';

/** Files of the benchmark repository; jobs run `sh -c true` in its checkout. */
const repositoryFiles: RepositoryFiles = {
  'README.md': 'Repository of the faas benchmarks: jobs run `sh -c true` in it.\n',
  'main.sh': 'true\n',
};

/** Service-account tokens of the development provider expire after 300 s, so they are renewed after 120 s. */
const tokenRenewMs = 120_000;
const natsPrefix = 'BENCH';
/** Development user whose token the Submit-throughput client carries. */
const throughputUser = 'alice';
/** Worker slots of the benchmark worker. */
export const workerSlots = 4;
/** Host uid of the worker's slot 0, apart from the worker default (61000) that the sandbox tests use. */
const workerUidBase = 62_100;

export interface PlatformOptions {
  /** Extra environment for every service, such as NODE_OPTIONS for CPU profiles. */
  serviceEnv?: Record<string, string>;
}

/**
 * The platform under test: the whole mesh as separate processes with a
 * private nats-server (dev/stack.ts) and a git server on 127.0.0.1 with the
 * benchmark repository. The benchmark talks to it through a client with a
 * service-account token. Its own NATS connection serves the raw JetStream
 * baselines and follows job records. The platform starts with no worker,
 * and `useWorker` adds one.
 */
export class Platform {
  private worker: { name: string; isolation: Isolation } | undefined;
  private copies = 0;
  private workersStarted = 0;

  private constructor(
    readonly dataDir: string,
    /** Folder with searchable ancestors, for sandboxed job folders of the baselines. */
    readonly sandboxRoot: string,
    readonly stack: Stack,
    readonly git: GitHttpServerProcess,
    /** Client that retries UNAVAILABLE like an application would. */
    readonly client: FaasClient,
    /**
     * Client of Submit throughput: it never retries, so a failed call counts
     * as a failure, and it acts as a second owner (the development user
     * alice), so the queue of that benchmark stays apart from the others.
     */
    readonly throughputClient: FaasClient,
    /** The same as `throughputClient`, with batchSubmits off: one Submit call per job. */
    readonly singleSubmitClient: FaasClient,
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly names: NatsNames,
    readonly tracker: JobTracker,
    /** URL of the benchmark repository. */
    readonly repositoryUrl: string,
    /** Commit id at the tip of the benchmark repository. */
    readonly repositoryCommit: string,
  ) {}

  static async start(options: PlatformOptions = {}): Promise<Platform> {
    const dataDir = await mkdtemp(join(tmpdir(), 'faas-bench-'));
    // Sandboxed jobs run as other users, who must be able to reach their folders.
    await chmod(dataDir, 0o711);
    const sandboxRoot = join(dataDir, 'sandbox');
    await mkdir(sandboxRoot, { mode: 0o711 });
    const cleanups: Array<() => Promise<unknown>> = [() => rm(dataDir, { recursive: true, force: true })];
    try {
      const git = await startGitHttpServerProcess(join(dataDir, 'repos'));
      cleanups.unshift(() => git.stop());
      const repository = await createRepository(join(dataDir, 'repos'), 'trivial', repositoryFiles);
      const stack = await startStack({
        dataDir,
        privateNats: true,
        workers: 0,
        slotsPerWorker: workerSlots,
        natsPrefix,
        // As deployed: compiled JavaScript under plain node, not TypeScript under tsx.
        compiled: true,
        env: {
          // Benchmarks queue thousands of jobs under one owner.
          FAAS_MAX_ACTIVE_JOBS: '100000',
          FAAS_SANDBOX_UID_BASE: String(workerUidBase),
          LOG_LEVEL: 'info',
          ...options.serviceEnv,
        },
      });
      cleanups.unshift(() => stack.stop());
      const account = defaultDevServiceAccounts[0];
      const serviceToken = renewingToken(() => stack.identity.serviceToken(account.clientId, account.secret));
      const client = new FaasClient({ address: stack.gatewayAddress, deadlineMs: 30_000, token: serviceToken });
      cleanups.unshift(async () => client.close());
      const userToken = renewingToken(() => stack.identity.userToken(throughputUser));
      const throughputClient = new FaasClient({ address: stack.gatewayAddress, deadlineMs: 30_000, retries: 0, token: userToken });
      cleanups.unshift(async () => throughputClient.close());
      const singleSubmitClient = new FaasClient({ address: stack.gatewayAddress, deadlineMs: 30_000, retries: 0, token: userToken, batchSubmits: false });
      cleanups.unshift(async () => singleSubmitClient.close());
      const nc = await connectNats({ servers: stack.natsUrl, name: 'faas-bench' });
      cleanups.unshift(() => nc.close());
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      const names = natsNames(natsPrefix);
      const tracker = await JobTracker.start(await new Kvm(js).open(names.jobsBucket));
      return new Platform(dataDir, sandboxRoot, stack, git, client, throughputClient, singleSubmitClient, nc, js, jsm, names, tracker, git.repositoryUrl('trivial'), repository.commitSha);
    } catch (error) {
      for (const cleanup of cleanups) await cleanup().catch(() => undefined);
      throw error;
    }
  }

  /** Returns the owner of the Submit-throughput client's jobs: the subject of its token. */
  async throughputOwner(): Promise<string> {
    const subject = decodeJwt(await this.stack.identity.userToken(throughputUser)).sub;
    if (!subject) throw new Error(`the token of ${throughputUser} has no subject`);
    return subject;
  }

  /** Spec of the trivial job against `repositoryUrl` (default: the benchmark repository). */
  trivialSpec(repositoryUrl = this.repositoryUrl): SubmitSpec {
    return { repositoryUrl, command: trivialCommand, timeoutSeconds: 60 };
  }

  /** Returns the size in bytes of the trivial job's spec as Submit encodes it, with an idempotency key as FaasClient sets one. */
  encodedSpecBytes(): number {
    const { input: _input, ...fields } = this.trivialSpec();
    return JobSpec.encode(JobSpec.fromPartial({ ...fields, idempotencyKey: randomUUID() })).finish().length;
  }

  /** Creates another repository with the same files as the benchmark repository and returns its URL. */
  async copyRepository(): Promise<string> {
    const name = `copy-${++this.copies}`;
    await createRepository(join(this.dataDir, 'repos'), name, repositoryFiles);
    return this.git.repositoryUrl(name);
  }

  get workerPid(): number | undefined {
    return this.stack.services().find((service) => service.name === this.worker?.name)?.pid;
  }

  /**
   * Replaces the worker with one of `workerSlots` slots and the given
   * isolation, runs one job through it and checks that the job reports that
   * isolation. `cache: false` turns its repository cache off (FAAS_CACHE).
   * With the cache on, the warm-up job puts the benchmark repository in it. The worker has no setting that turns a working sandbox off.
   * For isolation "none" it gets a work folder whose parent other users
   * cannot search, so its start-up probe fails, and
   * FAAS_ALLOW_UNSANDBOXED=true lets it run jobs anyway.
   */
  async useWorker(isolation: Isolation, signal: AbortSignal, options: { cache?: boolean } = {}): Promise<void> {
    if (this.worker) await this.stack.killService(this.worker.name, 'SIGTERM');
    this.worker = undefined;
    // Job folders live in the data folder, which `stop` removes.
    const env: Record<string, string> = {
      WORKER_SLOTS: String(workerSlots),
      WORKER_WORK_DIR: join(this.dataDir, 'workers', `${isolation}-${++this.workersStarted}`),
      FAAS_CACHE: options.cache === false ? 'off' : 'on',
    };
    if (isolation === 'none') {
      const privateParent = join(this.dataDir, 'private');
      await mkdir(privateParent, { recursive: true, mode: 0o700 });
      await chmod(privateParent, 0o700);
      Object.assign(env, { FAAS_ALLOW_UNSANDBOXED: 'true', WORKER_WORK_DIR: join(privateParent, 'worker') });
    }
    const name = await this.stack.addWorker(env);
    this.worker = { name, isolation };
    const { job } = await this.client.submit(this.trivialSpec(), { signal });
    await this.tracker.waitForFinal([job!.id], signal);
    const { job: finished, result } = await this.client.result(job!.id, { signal });
    if (finished!.state !== JobState.JOB_STATE_SUCCEEDED) {
      throw new Error(`the warm-up job ${job!.id} ended ${JobState[finished!.state]}: ${finished!.error?.message ?? 'no message'}`);
    }
    if (result!.isolation !== isolation) {
      throw new Error(`the warm-up job ran with isolation "${result!.isolation}", expected "${isolation}"; see ${this.stack.logDir}/${name}.log`);
    }
    await this.waitForIdleQueue(signal);
  }

  /** Waits until the dispatch consumer has no pending and no unacknowledged job. */
  async waitForIdleQueue(signal: AbortSignal): Promise<void> {
    for (;;) {
      const info = await this.jsm.consumers.info(this.names.jobStream, this.names.dispatchConsumer);
      if (info.num_pending === 0 && info.num_ack_pending === 0) return;
      if (signal.aborted) throw new Error(`timed out waiting for the job queue to empty: ${info.num_pending} pending, ${info.num_ack_pending} unacknowledged`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Cancels each job in `jobIds` that is not final yet, with `concurrency` calls in flight, through `client` (the owner's). */
  async cancelAll(jobIds: string[], concurrency: number, signal: AbortSignal, client = this.client): Promise<void> {
    const open = jobIds.filter((id) => {
      const state = this.tracker.stateOf(id);
      return state === undefined || !isFinal(state);
    });
    await forEachConcurrent(
      open.length,
      concurrency,
      async (index) => {
        await client.cancel(open[index], 'benchmark clean-up', { signal }).catch(() => undefined);
      },
      signal,
    );
  }

  /** Stops every process and server it started and removes the data folder unless `keepData`. */
  async stop(keepData: boolean): Promise<void> {
    this.tracker.stop();
    this.client.close();
    this.throughputClient.close();
    this.singleSubmitClient.close();
    await this.nc.close().catch(() => undefined);
    await this.stack.stop();
    await this.git.stop();
    if (!keepData) await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Returns a token source that gets a new token from `fetchToken` every `tokenRenewMs`. */
function renewingToken(fetchToken: () => Promise<string>): () => Promise<string> {
  let token: { value: string; renewAtMs: number } | undefined;
  return async () => {
    if (!token || Date.now() > token.renewAtMs) token = { value: await fetchToken(), renewAtMs: Date.now() + tokenRenewMs };
    return token.value;
  };
}
