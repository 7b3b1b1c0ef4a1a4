/**
 * `npm run soak`: runs many short jobs through a whole local stack of
 * processes while SIGKILLing workers now and then, and checks that no
 * accepted job was lost and none ran to completion twice.
 *
 *   npm run soak -- [--jobs 2000] [--minutes 10] [--workers 3] [--in-flight 12]
 *                   [--kill-every 10] [--drain-seconds 120] [--keep-data]
 *
 * The load phase ends after `--jobs` accepted jobs or `--minutes`, whichever
 * comes first. Killing stops, and the script waits up to `--drain-seconds`
 * for every accepted job to reach a final state. It then reads each job's
 * status and output, prints a summary and exits 1 when a job was lost or
 * duplicated. Everything it started is stopped, also after Ctrl-C.
 */
import { setMaxListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FaasClient } from '../client/client.js';
import { JobState, type Job } from '../gen/faas/v1/job.js';
import { isFinal } from '../common/job-states.js';
import { startGitHttpServer, type GitHttpServer } from '../dev/git-http-server.js';
import { createRepository } from '../dev/git-repositories.js';
import { defaultDevServiceAccounts } from '../dev/identity-provider.js';
import { startStack, type Stack } from '../dev/stack.js';

interface SoakOptions {
  jobs: number;
  minutes: number;
  workers: number;
  inFlight: number;
  killEverySeconds: number;
  drainSeconds: number;
  keepData: boolean;
}

/** Result of the final check for one accepted job. */
interface JobReport {
  id: string;
  state: JobState | undefined;
  attempt: number;
  /** Attempts whose output contains the completion marker. */
  completedAttempts: number[];
}

// Each job prints a start marker, sleeps for the time in SOAK_SLEEP and
// prints a completion marker. Logs tags every chunk with its attempt, so an
// attempt that printed the completion marker ran the job to its end.
const startMarker = 'soak-start';
const doneMarker = 'soak-done';
const jobScript = `echo ${startMarker}\nsleep "$SOAK_SLEEP"\necho ${doneMarker}\n`;

/** Service-account tokens of the development provider expire after 300 s, so they are renewed after 120 s. */
const tokenRenewMs = 120_000;
/** Calls in flight at once while the final check reads statuses and logs. */
const checkConcurrency = 16;

function readOptions(): SoakOptions {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '2000' },
      minutes: { type: 'string', default: '10' },
      workers: { type: 'string', default: '3' },
      'in-flight': { type: 'string', default: '12' },
      'kill-every': { type: 'string', default: '10' },
      'drain-seconds': { type: 'string', default: '120' },
      'keep-data': { type: 'boolean', default: false },
    },
  });
  const number = (name: string, value: string, min: number, max: number): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new Error(`--${name} is ${JSON.stringify(value)}; use a number from ${min} to ${max}`);
    }
    return parsed;
  };
  return {
    jobs: Math.floor(number('jobs', values.jobs, 1, 1_000_000)),
    minutes: number('minutes', values.minutes, 0.1, 24 * 60),
    workers: Math.floor(number('workers', values.workers, 1, 16)),
    inFlight: Math.floor(number('in-flight', values['in-flight'], 1, 500)),
    killEverySeconds: number('kill-every', values['kill-every'], 0, 3600),
    drainSeconds: number('drain-seconds', values['drain-seconds'], 0, 3600),
    keepData: values['keep-data'],
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function runLimited<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await run(items[next++]);
  });
  await Promise.all(runners);
}

function log(message: string): void {
  console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

class Soak {
  readonly accepted: string[] = [];
  submitErrors = 0;
  kills = 0;

  constructor(
    private readonly options: SoakOptions,
    private readonly stack: Stack,
    private readonly client: FaasClient,
    private readonly repositoryUrl: string,
  ) {}

  /** Keeps `inFlight` jobs submitted and followed until `stop` aborts or `jobs` were accepted. */
  async load(stop: AbortSignal): Promise<void> {
    let reserved = 0;
    const submitter = async (index: number) => {
      while (!stop.aborted && reserved < this.options.jobs) {
        reserved++;
        const jobId = await this.submitOne(index, stop);
        if (!jobId) {
          reserved--;
          await sleep(500, stop);
          continue;
        }
        await this.follow(jobId, stop);
      }
    };
    await Promise.all(Array.from({ length: this.options.inFlight }, (_, index) => submitter(index)));
  }

  private async submitOne(index: number, stop: AbortSignal): Promise<string | undefined> {
    // 0.1 to 1 s of run time, so attempts often overlap a worker kill.
    const sleepSeconds = (0.1 + Math.random() * 0.9).toFixed(2);
    try {
      const { job } = await this.client.submit(
        { repositoryUrl: this.repositoryUrl, env: { SOAK_SLEEP: sleepSeconds }, timeoutSeconds: 60 },
        { signal: stop },
      );
      this.accepted.push(job!.id);
      if (this.accepted.length % 100 === 0) log(`${this.accepted.length} jobs accepted`);
      return job!.id;
    } catch (error) {
      if (stop.aborted) return undefined;
      this.submitErrors++;
      log(`submit from submitter ${index} failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** Follows a job with Watch until it is final. Errors only end the wait, because the final check reads every job again. */
  private async follow(jobId: string, stop: AbortSignal): Promise<void> {
    try {
      for await (const job of this.client.watch(jobId, { signal: stop })) {
        if (isFinal(job.state)) return;
      }
    } catch (error) {
      if (!stop.aborted) log(`watch of job ${jobId} failed: ${(error as Error).message}`);
    }
  }

  /** SIGKILLs a random worker process every `killEverySeconds` (plus up to half that at random) and starts a replacement. */
  async killWorkers(stop: AbortSignal): Promise<void> {
    if (this.options.killEverySeconds === 0) return;
    while (!stop.aborted) {
      await sleep(this.options.killEverySeconds * 1000 * (1 + Math.random() / 2), stop);
      if (stop.aborted) return;
      const workers = this.stack.services().filter((service) => service.running && service.name.startsWith('worker-'));
      if (workers.length === 0) continue;
      const victim = workers[Math.floor(Math.random() * workers.length)];
      await this.stack.killService(victim.name, 'SIGKILL');
      const replacement = await this.stack.addWorker();
      this.kills++;
      log(`SIGKILLed ${victim.name} (pid ${victim.pid}); started ${replacement}`);
    }
  }

  /** Waits until every accepted job is final, or `timeoutMs` passes. */
  async drain(timeoutMs: number, stop: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let pending = [...this.accepted];
    while (pending.length > 0 && Date.now() < deadline && !stop.aborted) {
      const stillPending: string[] = [];
      await runLimited(pending, checkConcurrency, async (jobId) => {
        const job = await this.statusOrUndefined(jobId);
        if (!job || !isFinal(job.state)) stillPending.push(jobId);
      });
      pending = stillPending;
      if (pending.length > 0) {
        log(`draining: ${pending.length} job(s) not final yet`);
        await sleep(2_000, stop);
      }
    }
  }

  /** Reads the status and the whole output of every accepted job. */
  async check(): Promise<JobReport[]> {
    const reports: JobReport[] = [];
    await runLimited(this.accepted, checkConcurrency, async (id) => {
      const job = await this.statusOrUndefined(id);
      const outputByAttempt = new Map<number, string>();
      try {
        for await (const chunk of this.client.logs(id)) {
          outputByAttempt.set(chunk.attempt, (outputByAttempt.get(chunk.attempt) ?? '') + chunk.data.toString());
        }
      } catch (error) {
        log(`reading the output of job ${id} failed: ${(error as Error).message}`);
      }
      const completedAttempts = [...outputByAttempt]
        .filter(([, output]) => output.includes(doneMarker))
        .map(([attempt]) => attempt)
        .sort((a, b) => a - b);
      reports.push({ id, state: job?.state, attempt: job?.attempt ?? 0, completedAttempts });
    });
    return reports;
  }

  private async statusOrUndefined(jobId: string): Promise<Job | undefined> {
    try {
      return await this.client.status(jobId);
    } catch (error) {
      log(`status of job ${jobId} failed: ${(error as Error).message}`);
      return undefined;
    }
  }
}

/** Prints the summary and returns the process exit code: 1 when a job was lost or duplicated. */
function summarize(soak: Soak, reports: JobReport[], options: SoakOptions, elapsedMs: number): number {
  const byState = new Map<string, number>();
  for (const report of reports) {
    const name = report.state === undefined ? 'UNREADABLE' : JobState[report.state].replace('JOB_STATE_', '');
    byState.set(name, (byState.get(name) ?? 0) + 1);
  }
  const completed = reports.filter((report) => report.state !== undefined && isFinal(report.state));
  const succeeded = completed.filter((report) => report.state === JobState.JOB_STATE_SUCCEEDED);
  const lost = reports.filter((report) => report.state === undefined || !isFinal(report.state));
  const duplicated = reports.filter((report) => report.completedAttempts.length > 1);
  const retried = reports.filter((report) => report.attempt > 1);
  const succeededWithoutMarker = succeeded.filter((report) => !report.completedAttempts.includes(report.attempt));

  console.log('');
  console.log('soak summary');
  console.log(`  options           jobs ${options.jobs}, minutes ${options.minutes}, workers ${options.workers}, in flight ${options.inFlight}, kill every ~${options.killEverySeconds} s`);
  console.log(`  elapsed           ${(elapsedMs / 1000).toFixed(1)} s`);
  console.log(`  accepted          ${soak.accepted.length}`);
  console.log(`  submit errors     ${soak.submitErrors}`);
  console.log(`  completed         ${completed.length} (${[...byState].map(([state, count]) => `${state} ${count}`).join(', ')})`);
  console.log(`  retried           ${retried.length} (attempt > 1)`);
  console.log(`  workers killed    ${soak.kills}`);
  console.log(`  duplicated        ${duplicated.length}`);
  console.log(`  lost              ${lost.length}`);
  for (const report of duplicated) {
    console.log(`    duplicated ${report.id}: attempts ${report.completedAttempts.join(', ')} printed ${doneMarker}`);
  }
  for (const report of lost) {
    const state = report.state === undefined ? 'unreadable' : JobState[report.state];
    console.log(`    lost ${report.id}: ${state}, attempt ${report.attempt}`);
  }
  if (succeededWithoutMarker.length > 0) {
    // Not a loss, but a sign that Logs missed output of the final attempt.
    console.log(`  note: ${succeededWithoutMarker.length} SUCCEEDED job(s) lack ${doneMarker} in the output of their last attempt, first ${succeededWithoutMarker[0].id}`);
  }
  return duplicated.length > 0 || lost.length > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  const options = readOptions();
  const dataDir = await mkdtemp(join(tmpdir(), 'faas-soak-'));
  const interrupted = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal} received; stopping`);
    interrupted.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let stack: Stack | undefined;
  let git: GitHttpServer | undefined;
  let client: FaasClient | undefined;
  let exitCode = 1;
  const started = Date.now();
  try {
    log(`data folder ${dataDir}`);
    git = await startGitHttpServer(join(dataDir, 'repos'));
    await createRepository(join(dataDir, 'repos'), 'soak', { 'main.sh': jobScript });
    const repositoryUrl = git.repositoryUrl('soak');

    stack = await startStack({
      dataDir,
      privateNats: true,
      workers: options.workers,
      natsPrefix: 'SOAK',
      // The soak keeps up to `inFlight` jobs active under one owner.
      env: { FAAS_MAX_ACTIVE_JOBS: String(options.inFlight + 8), LOG_LEVEL: 'info' },
    });
    log(`stack up: gateway ${stack.gatewayAddress}, nats ${stack.natsUrl}, logs in ${stack.logDir}`);

    const account = defaultDevServiceAccounts[0];
    const identity = stack.identity;
    let token: { value: string; renewAt: number } | undefined;
    client = new FaasClient({
      address: stack.gatewayAddress,
      deadlineMs: 30_000,
      token: async () => {
        if (!token || Date.now() > token.renewAt) {
          token = { value: await identity.serviceToken(account.clientId, account.secret), renewAt: Date.now() + tokenRenewMs };
        }
        return token.value;
      },
    });

    const soak = new Soak(options, stack, client, repositoryUrl);
    const loadOver = AbortSignal.any([interrupted.signal, AbortSignal.timeout(options.minutes * 60_000)]);
    // Every submitter waits on these signals, each with its own abort listener.
    setMaxListeners(options.inFlight * 4 + 10, loadOver, interrupted.signal);
    const killing = new AbortController();
    const killer = soak.killWorkers(AbortSignal.any([loadOver, killing.signal]));
    await soak.load(loadOver);
    killing.abort();
    await killer;
    log(`load phase over: ${soak.accepted.length} accepted, ${soak.kills} worker(s) killed; draining for up to ${options.drainSeconds} s`);

    await soak.drain(options.drainSeconds * 1000, interrupted.signal);
    const reports = await soak.check();
    exitCode = summarize(soak, reports, options, Date.now() - started);
    if (interrupted.signal.aborted) exitCode = 1;
  } catch (error) {
    console.error(`soak failed: ${(error as Error).stack ?? String(error)}`);
    exitCode = 1;
  } finally {
    client?.close();
    await stack?.stop();
    await git?.stop();
    if (options.keepData || exitCode !== 0) {
      log(`kept ${dataDir} with the service logs`);
    } else {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  return exitCode;
}

process.exitCode = await main();
