import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { connect as connectNats } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { FaasClient, type FaasClientOptions } from '../../client/client.js';
import { FaasClientError } from '../../client/errors.js';
import { natsNames } from '../../common/nats-names.js';
import { JobState, type Job } from '../../gen/faas/v1/job.js';
import { startGitHttpServer, type GitHttpServer } from '../../dev/git-http-server.js';
import { createRepository, type RepositoryFiles } from '../../dev/git-repositories.js';
import { defaultDevServiceAccounts } from '../../dev/identity-provider.js';
import { startStack, type Stack, type StackOptions } from '../../dev/stack.js';

export const finalStates = new Set<JobState>([
  JobState.JOB_STATE_SUCCEEDED,
  JobState.JOB_STATE_FAILED,
  JobState.JOB_STATE_TIMED_OUT,
  JobState.JOB_STATE_CANCELLED,
]);

/**
 * A whole stack of separate service processes for reliability tests: a
 * private nats-server with its store in a temporary folder, a git server on
 * 127.0.0.1 and a client with the default service account's token.
 */
export class ProcessStack {
  private readonly clients: FaasClient[] = [];

  private constructor(
    readonly stack: Stack,
    readonly git: GitHttpServer,
    readonly dataDir: string,
    /** Prefix of the JetStream names of this stack. */
    readonly natsPrefix: string,
    private readonly token: string,
  ) {}

  /** Starts the stack. Every option of `startStack` but the data folder and NATS may be set. */
  static async start(options: Omit<StackOptions, 'dataDir' | 'privateNats' | 'natsUrl'> = {}): Promise<ProcessStack> {
    const dataDir = await mkdtemp(join(tmpdir(), 'faas-reliability-'));
    const natsPrefix = `R${randomBytes(4).toString('hex')}`;
    let git: GitHttpServer | undefined;
    try {
      git = await startGitHttpServer(join(dataDir, 'repos'));
      const stack = await startStack({
        dataDir,
        privateNats: true,
        natsPrefix,
        ...options,
        env: {
          // The suites submit more jobs at once than the default limit of 20 per owner.
          FAAS_MAX_ACTIVE_JOBS: '500',
          FAAS_HEARTBEAT_INTERVAL: '1s',
          // Jobs of a killed worker run again after this; a restarted scheduler takes running jobs over within it.
          FAAS_ADOPTION_GRACE: '10s',
          ...options.env,
        },
      });
      const account = defaultDevServiceAccounts[0];
      const token = await stack.identity.serviceToken(account.clientId, account.secret).catch(async (error: unknown) => {
        await stack.stop();
        throw error;
      });
      return new ProcessStack(stack, git, dataDir, natsPrefix, token);
    } catch (error) {
      await git?.stop();
      await rm(dataDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Returns a client of the gateway with the service account's token; `stop` closes it. */
  client(options: Omit<FaasClientOptions, 'address' | 'token'> = {}): FaasClient {
    const client = new FaasClient({ address: this.stack.gatewayAddress, token: this.token, deadlineMs: 20_000, retries: 6, ...options });
    this.clients.push(client);
    return client;
  }

  /** Creates a repository on the git server and returns its URL. */
  async repository(files: RepositoryFiles): Promise<string> {
    const name = `repo-${randomBytes(4).toString('hex')}`;
    await createRepository(join(this.dataDir, 'repos'), name, files);
    return this.git.repositoryUrl(name);
  }

  /** Returns the name of the worker process whose id is `workerId`, which carries its pid. */
  workerService(workerId: string): string {
    const worker = this.stack
      .services()
      .find((service) => service.name.startsWith('worker-') && service.pid !== undefined && workerId.includes(`-${service.pid}-`));
    assert.ok(worker, `no worker process of this stack has the id ${workerId}`);
    return worker.name;
  }

  /** Returns the attempts that have a stored result, read from the object store. */
  async storedResultAttempts(jobId: string): Promise<number[]> {
    const nc = await connectNats({ servers: this.stack.natsUrl, timeout: 5_000, reconnect: false });
    try {
      const names = natsNames(this.natsPrefix);
      const blobs = await new Objm(jetstream(nc)).open(names.blobsBucket);
      const attempts: number[] = [];
      // Large results are in the object store, the others in the results bucket.
      for (const info of await blobs.list()) {
        const match = /^result\/([^/]+)\/(\d+)$/.exec(info.name);
        if (match && match[1] === jobId && !info.deleted) attempts.push(Number(match[2]));
      }
      const results = await new Kvm(jetstream(nc)).open(names.resultsBucket);
      for await (const key of await results.keys(`${jobId}.*`)) attempts.push(Number(key.split('.')[1]));
      return attempts.sort((a, b) => a - b);
    } finally {
      await nc.close();
    }
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    await this.stack.stop();
    await this.git.stop();
    // FAAS_KEEP_TEST_DATA=true keeps the service logs for a failure to be read.
    if (process.env.FAAS_KEEP_TEST_DATA === 'true') console.log(`      kept ${this.dataDir}`);
    else await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Polls `condition` every 50 ms and throws after `timeoutMs` naming `what`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls Status until the job is in a final state and returns that record; throws after `timeoutMs`. */
export async function waitForFinal(client: FaasClient, jobId: string, timeoutMs: number): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.status(jobId);
    if (finalStates.has(job.state)) return job;
    if (Date.now() > deadline) {
      throw new Error(`job ${jobId} is still ${JobState[job.state]} (attempt ${job.attempt}, worker ${job.workerId || 'none'}) after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Follows Watch to its end and returns every record; aborts the stream after `timeoutMs`. */
export async function watchRecords(client: FaasClient, jobId: string, timeoutMs: number): Promise<Job[]> {
  const records: Job[] = [];
  for await (const job of client.watch(jobId, { signal: AbortSignal.timeout(timeoutMs) })) records.push(job);
  return records;
}

/** Reads the job's whole log, without following it. */
export async function logText(client: FaasClient, jobId: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of client.logs(jobId, { signal: AbortSignal.timeout(10_000) })) parts.push(chunk.data);
  return Buffer.concat(parts).toString();
}

/** Jobs a submit stream got back, and the Submits that failed. */
export interface SubmitStream {
  accepted: Array<{ jobId: string; input: string }>;
  failures: FaasClientError[];
  /** Resolves once every Submit has returned or failed. */
  done: Promise<void>;
}

/**
 * Submits `count` jobs `intervalMs` apart, each with the input "job-N\n", and
 * collects the accepted job ids and the failed Submits as they return.
 */
export function submitStream(client: FaasClient, repositoryUrl: string, count: number, intervalMs: number): SubmitStream {
  const accepted: SubmitStream['accepted'] = [];
  const failures: FaasClientError[] = [];
  const done = (async () => {
    const calls: Array<Promise<void>> = [];
    for (let i = 0; i < count; i++) {
      const input = `job-${i}\n`;
      const call = client.submit({ repositoryUrl, input: Buffer.from(input), timeoutSeconds: 60 }).then(
        ({ job }) => {
          accepted.push({ jobId: job!.id, input });
        },
        (error: unknown) => {
          assert.ok(error instanceof FaasClientError, `Submit failed with ${String(error)}`);
          failures.push(error);
        },
      );
      calls.push(call);
      await sleep(intervalMs);
    }
    await Promise.all(calls);
  })();
  return { accepted, failures, done };
}
