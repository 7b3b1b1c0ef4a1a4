import { chmod, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import {
  WorkerServiceClient,
  type ConnectRequest,
  type ConnectResponse,
  type JobAdoption,
  type JobAssignment,
} from '../../gen/faas/worker/v1/worker_service.js';
import type { LogStream } from '../../gen/faas/v1/job.js';
import { failureReasonName, stateName } from '../../common/job-states.js';
import { Readiness } from '../../common/readiness.js';
import type { Logger } from '../../common/logger.js';
import { carrierOf, context, contextFrom, failSpan, jobAttributes, ROOT_CONTEXT, trace, tracer } from '../../common/tracing.js';
import { meshChannelCredentials, meshChannelOptions } from '../../common/tls.js';
import type { WorkerConfig } from './config.js';
import { findToolchain, type Toolchain } from './entrypoint.js';
import { releaseJobDir, runJob, type JobReporter, type StopReason } from './job-runner.js';
import { JobFolders } from './job-folders.js';
import type { IsolationLevel } from './job-steps.js';
import { WorkerMetrics } from './metrics.js';
import { removeStaleJobCgroups } from './sandbox/cgroups.js';
import { ProcessLauncher } from './launcher/launcher.js';
import { buildSandboxPrograms, type SandboxPrograms } from './sandbox/programs.js';
import { probeIsolation, type IsolationReport } from './sandbox/probe.js';
import { claimUidBlock, type UidBlock } from './sandbox/uid-blocks.js';
import { PodDeletionCost, findPod } from './pod-deletion-cost.js';
import { RepoCache } from './repo-cache.js';
import { sandboxUser } from './sandbox/users.js';
import { ConfigError } from '../../common/config.js';
import { errorMessage } from '../../common/errors.js';
import { OutputBacklog } from './output-backlog.js';

export const protocolVersion = 1;
const maxReconnectDelayMs = 10_000;
/** How long a worker must have been idle before it collects garbage. */
const idleCollectDelayMs = 2_000;
/** Age from which an empty job cgroup counts as left behind, since a job's cgroup is empty only for moments. */
const staleCgroupAgeMs = 60_000;
/** How long a stopping worker waits for the scheduler to close the stream. */
const streamCloseWaitMs = 5_000;
/** Output of each job kept to send again after a reconnect; without a stream, a job's output waits once this much is unsent. */
const outputBacklogBytes = 1024 * 1024;

type SchedulerCall = ClientDuplexStream<ConnectRequest, ConnectResponse>;

/** Lifecycle of a worker process. */
export type WorkerState = 'connecting' | 'connected' | 'draining' | 'stopped';

interface ActiveJob {
  jobId: string;
  attempt: number;
  controller: AbortController;
  /** Slot the job runs in; it picks the job's sandbox user. */
  slot: number;
  /** JobAssignment.lease, sent back when the worker reconnects with the job running. */
  lease: string;
  /** The stream the job reports on; undefined from a broken stream until a scheduler takes the job over. */
  call?: SchedulerCall;
  output: OutputBacklog;
  /** Output offset when the job lost its stream. */
  unsentFrom: number;
  /** When the job lost its stream, in ms since the epoch; its adoption grace counts from here. */
  detachedAtMs: number;
  /** Reports held back while the job has no stream: its latest update, then its outcome. */
  heldUpdate?: ConnectRequest;
  heldOutcome?: ConnectRequest;
  /** Output waiting for a stream, woken when the job gets one or stops. */
  streamWaiters: Array<() => void>;
}

export interface RunningWorker {
  readonly workerId: string;
  readonly state: WorkerState;
  readonly activeJobs: number;
  /** SERVING while the worker is connected to a scheduler and not draining. */
  readonly readiness: Readiness;
  /** Drains: takes no new jobs, lets running ones finish within the grace period, then hands the rest back. */
  stop(): Promise<void>;
}

export async function startWorker(config: WorkerConfig, log: Logger): Promise<RunningWorker> {
  await mkdir(config.workDir, { recursive: true });
  const toolchain = await findToolchain();
  log.info({ workerId: config.workerId, slots: config.slots, scheduler: config.schedulerAddress, toolchain }, 'worker starting');
  const programs = await prepareSandboxPrograms(config, toolchain, log);
  const { isolation, uidBlock } = await checkIsolation(config, log, programs);
  try {
    return await startAgent(config, toolchain, isolation, log, uidBlock, programs);
  } catch (error) {
    uidBlock?.release();
    throw error;
  }
}

/** Opens the worker's resources and connects it to the scheduler, with the isolation that the start-up checks found. */
async function startAgent(
  config: WorkerConfig,
  toolchain: Toolchain,
  isolation: IsolationLevel,
  log: Logger,
  uidBlock?: UidBlock,
  programs?: SandboxPrograms,
): Promise<RunningWorker> {
  if (isolation === 'sandboxed') await removeStaleCgroups(log);
  // On Kubernetes, idle workers make themselves the first to go at scale-in.
  const pod = await findPod(process.env);
  const deletionCost = pod ? new PodDeletionCost(pod, log) : undefined;
  deletionCost?.set(0);
  const repoCache = config.cacheEnabled
    ? await RepoCache.open({
        dir: config.cacheDir ?? join(config.workDir, 'repo-cache'),
        maxBytes: config.cacheMaxBytes,
        refReuseMs: config.cacheRefReuseMs,
        accessPolicy: { allowHttp: config.allowHttp, allowedAddresses: config.allowedAddresses },
        log: log.child({ workerId: config.workerId, component: 'repo-cache' }),
      })
    : undefined;
  const folders = new JobFolders(config.workDir, 2 * config.slots);
  await folders.removeLeftovers();
  // Slots run as uids of the block this worker claimed.
  const agentConfig = uidBlock ? { ...config, sandboxUidBase: uidBlock.base } : config;
  // The launcher starts jobs with or without a sandbox; the sandbox's own programs only serve a sandbox.
  const launcher = programs ? new ProcessLauncher(programs.launch, log.child({ workerId: config.workerId, component: 'launcher' })) : undefined;
  const sandboxPrograms = isolation === 'sandboxed' ? programs : undefined;
  const agent = new WorkerAgent(agentConfig, toolchain, isolation, log.child({ workerId: config.workerId }), folders, deletionCost, repoCache, uidBlock, sandboxPrograms, launcher);
  agent.connect();
  return agent;
}

/** Interval between the worker's pings on the Connect stream's connection, and the time it waits for each acknowledgement. */
const keepaliveTimeMs = 5_000;

/**
 * Keeps one Connect stream to the scheduler open, reconnecting with backoff,
 * and runs the jobs it is assigned. When the stream breaks, the jobs go on
 * for the adoption grace, until the scheduler that the worker reconnects to
 * takes them over or the grace ends.
 */
class WorkerAgent implements RunningWorker {
  private readonly client: WorkerServiceClient;
  private call: ClientDuplexStream<ConnectRequest, ConnectResponse> | undefined;
  private readonly jobs = new Map<string, ActiveJob>();
  /** Finished jobs whose outcome waits for a scheduler to take them over. */
  private readonly unreported = new Map<string, ActiveJob>();
  /** SchedulerHello.adoption_grace_ms of the last scheduler. */
  private adoptionGraceMs = 0;
  private adoptionTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelayMs = 250;
  /** Stream failures since the last hello; after the first, they are logged at debug level, since each reconnect attempt fails alike. */
  private failuresSinceHello = 0;
  private idleCollectTimer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Releases of finished jobs' folders, one after another, so they take at most one thread of Node's pool. */
  private releases: Promise<void> = Promise.resolve();
  state: WorkerState = 'connecting';
  readonly readiness = new Readiness();
  private readonly metrics: WorkerMetrics;

  constructor(
    private readonly config: WorkerConfig,
    private readonly toolchain: Toolchain,
    private readonly isolation: IsolationLevel,
    private readonly log: Logger,
    private readonly folders: JobFolders,
    private readonly deletionCost?: PodDeletionCost,
    private readonly repoCache?: RepoCache,
    private readonly uidBlock?: UidBlock,
    /** The compiled sandbox programs. Absent without a sandbox or gcc. */
    private readonly sandboxPrograms?: SandboxPrograms,
    /** Starts the jobs' programs. Absent without gcc. */
    private readonly launcher?: ProcessLauncher,
  ) {
    this.metrics = new WorkerMetrics({ total: config.slots, busy: () => this.jobs.size });
    this.readiness.set('scheduler', false, 'connecting to the scheduler');
    this.client = new WorkerServiceClient(config.schedulerAddress, meshChannelCredentials(config.tls), {
      ...meshChannelOptions(config.tls, config.schedulerAddress),
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
      'grpc.max_send_message_length': 8 * 1024 * 1024,
      // A connection that went silent, as in a network partition, fails within 10 s. With the default
      // heartbeat interval, that is before the scheduler, which waits 3 heartbeats (15 s), drops the worker.
      'grpc.keepalive_time_ms': keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': keepaliveTimeMs,
    });
  }

  get workerId(): string {
    return this.config.workerId;
  }

  get activeJobs(): number {
    return this.jobs.size;
  }

  connect(): void {
    if (this.state === 'stopped') return;
    const call = this.client.connect();
    this.call = call;
    // Jobs kept running since an earlier stream broke, for the scheduler to take over.
    const running = this.jobsWithoutStream().map(({ jobId, attempt, lease }) => ({ jobId, attempt, lease }));
    call.write({
      hello: { workerId: this.config.workerId, protocolVersion, slots: this.config.slots, hostname: hostname(), running },
    });
    call.on('data', (message: ConnectResponse) => this.handle(call, message));
    call.on('error', (error: Error & { code?: number; details?: string }) => {
      if (this.state !== 'stopped') {
        const level = this.failuresSinceHello === 0 ? 'warn' : 'debug';
        this.failuresSinceHello++;
        this.log[level]({ code: error.code, details: error.details }, 'scheduler stream failed');
      }
      this.disconnected(call);
    });
    call.on('end', () => this.disconnected(call));
    call.on('close', () => this.disconnected(call));
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'draining';
    this.readiness.set('draining', false, 'the worker is draining and takes no new jobs');
    this.log.info({ running: this.jobs.size, graceMs: this.config.shutdownGraceMs }, 'draining');
    this.sendHeartbeat();
    if (this.jobs.size > 0) {
      const grace = new Promise<void>((resolve) => setTimeout(resolve, this.config.shutdownGraceMs).unref());
      await Promise.race([this.whenIdle(), grace]);
    }
    this.state = 'stopped';
    clearTimeout(this.adoptionTimer);
    this.adoptionTimer = undefined;
    this.unreported.clear();
    for (const job of this.jobs.values()) job.controller.abort('disconnected' satisfies StopReason);
    await this.whenIdle();
    await this.releases;
    await this.folders.removeSpares().catch((error: unknown) => this.log.warn({ err: error }, 'failed to delete the spare job folders'));
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.reconnectTimer);
    // Outcomes written during the grace period must reach the scheduler, so
    // wait (briefly) for it to close the stream after our end.
    const call = this.call;
    if (call) {
      const closed = new Promise<void>((resolve) => {
        call.once('close', resolve);
        call.once('error', () => resolve());
        call.once('end', resolve);
      });
      call.end();
      await Promise.race([closed, new Promise<void>((resolve) => setTimeout(resolve, streamCloseWaitMs).unref())]);
    }
    this.client.close();
    await this.repoCache?.close();
    await this.launcher?.stop();
    this.uidBlock?.release();
    this.log.info('worker stopped');
  }

  private handle(call: ClientDuplexStream<ConnectRequest, ConnectResponse>, message: ConnectResponse): void {
    if (message.hello) {
      if (this.state === 'connecting') this.state = 'connected';
      this.reconnectDelayMs = 250;
      this.failuresSinceHello = 0;
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = setInterval(() => this.sendHeartbeat(), message.hello.heartbeatIntervalMs);
      this.adoptionGraceMs = message.hello.adoptionGraceMs;
      this.readiness.set('scheduler', true);
      this.log.info({ schedulerId: message.hello.schedulerId }, 'connected to scheduler');
    } else if (message.assignment) {
      this.start(call, message.assignment);
    } else if (message.adoption) {
      this.adopted(call, message.adoption);
    } else if (message.cancellation) {
      const { jobId, attempt, reason } = message.cancellation;
      const job = this.jobs.get(jobId);
      if (job && job.attempt === attempt) {
        // A job kept running that the scheduler did not take over ends without a report.
        const adopted = job.call === call;
        this.log.info({ jobId, reason }, adopted ? 'cancelling job' : 'stopping a job that no scheduler took over');
        job.controller.abort((adopted ? 'cancelled' : 'disconnected') satisfies StopReason);
      }
      if (this.unreported.get(jobId)?.attempt === attempt) this.unreported.delete(jobId);
    }
  }

  /** Moves a job kept running onto `call`, and sends what the scheduler lacks: output from the offset it names, then held reports. */
  private adopted(call: SchedulerCall, adoption: JobAdoption): void {
    const { jobId, attempt, outputOffset } = adoption;
    const job = this.jobs.get(jobId) ?? this.unreported.get(jobId);
    if (!job || job.attempt !== attempt || job.call !== undefined) return;
    job.call = call;
    const { chunks, lostBytes } = job.output.since(outputOffset);
    for (const chunk of chunks) call.write({ log: { jobId, attempt, stream: chunk.stream, data: chunk.data } });
    for (const report of [job.heldUpdate, job.heldOutcome]) if (report) call.write(report);
    job.heldUpdate = undefined;
    if (job.heldOutcome) this.unreported.delete(jobId);
    job.heldOutcome = undefined;
    wakeAll(job.streamWaiters);
    const fields = { jobId, attempt, resentBytes: job.output.end - outputOffset, lostBytes: lostBytes || undefined };
    if (lostBytes > 0) this.log.warn(fields, 'the scheduler took over the job, but output it did not store is no longer kept');
    else this.log.info(fields, 'the scheduler took over the job');
  }

  /** Sends a report on the job's stream, or keeps it until a scheduler takes the job over. */
  private report(job: ActiveJob, message: ConnectRequest): void {
    if (job.call) job.call.write(message);
    else if (message.outcome) job.heldOutcome = message;
    else job.heldUpdate = message;
  }

  /** Keeps output for a later resend and sends it, or, without a stream, waits once the backlog is full of unsent output. */
  private output(job: ActiveJob, stream: LogStream, data: Buffer): Promise<void> {
    job.output.append(stream, data);
    if (job.call) return writeWithBackpressure(job.call, { log: { jobId: job.jobId, attempt: job.attempt, stream, data } });
    if (job.output.end - job.unsentFrom <= outputBacklogBytes || job.controller.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => job.streamWaiters.push(resolve));
  }

  private start(call: ClientDuplexStream<ConnectRequest, ConnectResponse>, assignment: JobAssignment): void {
    const { jobId, attempt } = assignment;
    if (this.state !== 'connected' || this.jobs.size >= this.config.slots || this.jobs.has(jobId)) {
      const reason = this.state === 'connected' ? 'no free slot' : 'the worker is draining';
      call.write({ rejection: { jobId, attempt, reason } });
      return;
    }
    const controller = new AbortController();
    const slot = this.freeSlot();
    const job: ActiveJob = { jobId, attempt, controller, slot, lease: assignment.lease, call, output: new OutputBacklog(outputBacklogBytes), unsentFrom: 0, detachedAtMs: 0, streamWaiters: [] };
    controller.signal.addEventListener('abort', () => wakeAll(job.streamWaiters), { once: true });
    this.jobs.set(jobId, job);
    this.deletionCost?.set(this.jobs.size);
    // The attempt's span continues the trace the scheduler's dispatch span began.
    const span = tracer().startSpan(
      'job attempt',
      {
        attributes: {
          [jobAttributes.jobId]: jobId,
          [jobAttributes.attempt]: attempt,
          [jobAttributes.workerId]: this.config.workerId,
          [jobAttributes.repository]: assignment.spec?.repositoryUrl ?? '',
        },
      },
      contextFrom(assignment.traceContext, ROOT_CONTEXT),
    );
    const spanContext = trace.setSpan(ROOT_CONTEXT, span);
    const traceContext = carrierOf(spanContext);
    const log = this.log.child({ jobId, attempt });
    context.with(spanContext, () => log.info({ repository: assignment.spec?.repositoryUrl, ref: assignment.spec?.ref }, 'job accepted'));

    const reporter: JobReporter = {
      update: (phase, commitSha, details = {}) => {
        if (commitSha) span.setAttribute(jobAttributes.commit, commitSha);
        const update = { jobId, attempt, phase, commitSha, traceContext, entrypoint: details.entrypoint ?? '', appliedLimits: details.appliedLimits };
        this.report(job, { update });
      },
      output: (stream: LogStream, data: Buffer) => this.output(job, stream, data),
    };
    const runContext = {
      config: this.config,
      toolchain: this.toolchain,
      isolation: this.isolation,
      sandboxPrograms: this.sandboxPrograms,
      launcher: this.launcher,
      slot,
      log,
      repoCache: this.repoCache,
      folders: this.folders,
    };
    context.with(spanContext, () => runJob(assignment, runContext, reporter, controller.signal))
      .then((outcome) => {
        span.setAttribute(jobAttributes.state, stateName(outcome.state));
        if (outcome.result) this.metrics.attemptFinished(outcome.result, stateName(outcome.state));
        if (outcome.commitSha) span.setAttribute(jobAttributes.commit, outcome.commitSha);
        if (controller.signal.reason === 'disconnected') {
          context.with(spanContext, () => log.info('job stopped; the scheduler hands it back to the queue'));
          return;
        }
        this.report(job, { outcome: { ...outcome, traceContext } });
        if (job.heldOutcome) this.unreported.set(jobId, job);
        context.with(spanContext, () =>
          log.info(
            {
              state: stateName(outcome.state),
              reason: outcome.error && failureReasonName(outcome.error.reason),
              error: outcome.error?.message,
              exitCode: outcome.result?.exitCode,
              signal: outcome.result?.signal || undefined,
              durationMs: outcome.result?.durationMs,
              cloneMs: outcome.result?.cloneMs,
              buildMs: outcome.result?.buildMs,
              runMs: outcome.result?.runMs,
            },
            'job finished',
          ),
        );
      })
      .catch((error: unknown) => {
        failSpan(span, error);
        log.error({ err: error }, 'job failed to report');
      })
      .finally(() => {
        span.end();
        this.releaseJobDir(assignment, log);
        this.jobs.delete(jobId);
        this.deletionCost?.set(this.jobs.size);
        if (this.jobs.size === 0) {
          this.wakeIdleWaiters();
          this.collectWhenIdle();
        }
      });
  }

  /**
   * Queues the release of a finished attempt's folder behind the earlier
   * ones, which `stop` waits for. A release can wait on the kernel for
   * milliseconds, so the pool's other threads stay free for running jobs.
   */
  private releaseJobDir(assignment: JobAssignment, log: Logger): void {
    this.releases = this.releases
      .then(() => releaseJobDir(this.config, this.folders, assignment))
      .catch((error: unknown) => log.warn({ err: error }, 'failed to empty or delete the job folder'));
  }

  /** Returns the lowest slot number no running job uses. */
  private freeSlot(): number {
    const used = new Set([...this.jobs.values()].map((job) => job.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    return slot;
  }

  private sendHeartbeat(): void {
    this.call?.write({
      heartbeat: { runningJobIds: [...this.jobs.keys()], draining: this.state === 'draining' || this.state === 'stopped' },
    });
  }

  private disconnected(call: ClientDuplexStream<ConnectRequest, ConnectResponse>): void {
    if (this.call !== call) return;
    this.call = undefined;
    this.readiness.set('scheduler', false, 'disconnected from the scheduler; reconnecting');
    call.cancel();
    clearInterval(this.heartbeatTimer);
    let detached = 0;
    for (const job of [...this.jobs.values(), ...this.unreported.values()]) {
      if (job.call !== call) continue;
      job.call = undefined;
      job.unsentFrom = job.output.end;
      job.detachedAtMs = Date.now();
      detached++;
    }
    if (this.state !== 'stopped' && this.adoptionGraceMs > 0) {
      // A failed reconnect detaches nothing new, and the grace of jobs detached earlier runs on.
      if (detached > 0) this.log.info({ jobs: detached, graceMs: this.adoptionGraceMs }, 'keeping jobs running while reconnecting, for a scheduler to take over');
      this.stopDetachedJobsAfterGrace();
    } else {
      // The scheduler requeues what this stream held, so running copies must stop.
      this.dropDetachedJobs();
    }
    if (this.state === 'stopped') return;
    if (this.state === 'connected') this.state = 'connecting';
    this.log.info({ retryInMs: this.reconnectDelayMs }, 'disconnected from scheduler; reconnecting');
    this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectDelayMs);
    this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, maxReconnectDelayMs);
  }

  /**
   * Sets the timer for the first job without a stream whose adoption grace
   * ends. When it fires, the jobs whose grace ended stop, and the timer is set
   * for the next one.
   */
  private stopDetachedJobsAfterGrace(): void {
    if (this.adoptionTimer !== undefined) return;
    const waiting = this.jobsWithoutStream();
    if (waiting.length === 0) return;
    const firstDeadlineMs = Math.min(...waiting.map((job) => job.detachedAtMs)) + this.adoptionGraceMs;
    this.adoptionTimer = setTimeout(() => {
      this.adoptionTimer = undefined;
      const stopped = this.dropDetachedJobs(Date.now() - this.adoptionGraceMs);
      if (stopped > 0) this.log.warn({ jobs: stopped, graceMs: this.adoptionGraceMs }, 'no scheduler took these jobs over in time; stopped them');
      this.stopDetachedJobsAfterGrace();
    }, Math.max(0, firstDeadlineMs - Date.now()));
    this.adoptionTimer.unref();
  }

  /**
   * Stops the jobs that lost their stream at or before `detachedUntilMs`
   * (all of them by default) and drops their unreported outcomes. Returns
   * how many it dropped.
   */
  private dropDetachedJobs(detachedUntilMs = Infinity): number {
    let dropped = 0;
    for (const job of this.jobsWithoutStream()) {
      if (job.detachedAtMs > detachedUntilMs) continue;
      if (this.unreported.get(job.jobId) === job) {
        this.unreported.delete(job.jobId);
      } else if (job.controller.signal.aborted) {
        continue;
      } else {
        job.controller.abort('disconnected' satisfies StopReason);
      }
      dropped++;
    }
    return dropped;
  }

  /** Returns the running and the finished but unreported jobs that lost their stream, each once. */
  private jobsWithoutStream(): ActiveJob[] {
    const jobs = new Map<string, ActiveJob>();
    for (const job of [...this.jobs.values(), ...this.unreported.values()]) {
      if (job.call === undefined) jobs.set(job.jobId, job);
    }
    return [...jobs.values()];
  }

  private whenIdle(): Promise<void> {
    if (this.jobs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Runs a full garbage collection once the worker has stayed idle for a
   * while, so that an idle worker gives back what its last jobs used. The
   * collection is only there when node runs with --expose-gc (see
   * common/node-flags.ts).
   */
  private collectWhenIdle(): void {
    const collect = (globalThis as { gc?: () => void }).gc;
    if (!collect) return;
    clearTimeout(this.idleCollectTimer);
    this.idleCollectTimer = setTimeout(() => {
      if (this.jobs.size > 0) return;
      // Measured on the benchmark's worker: the first collection frees the jobs' objects but keeps the
      // heap's pages, and the second moves the survivors off the sparse pages and gives those back.
      collect();
      collect();
    }, idleCollectDelayMs);
    this.idleCollectTimer.unref();
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}

function wakeAll(waiters: Array<() => void>): void {
  for (const wake of waiters.splice(0)) wake();
}

function writeWithBackpressure(
  call: ClientDuplexStream<ConnectRequest, ConnectResponse>,
  message: ConnectRequest,
): Promise<void> {
  if (call.write(message)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('close', done);
      resolve();
    };
    call.on('drain', done);
    call.on('close', done);
  });
}

/** Removes empty job cgroups that killed workers left. A failure only logs a warning. */
async function removeStaleCgroups(log: Logger): Promise<void> {
  try {
    const removed = await removeStaleJobCgroups(staleCgroupAgeMs);
    if (removed > 0) log.info({ removed }, 'removed empty job cgroups that earlier workers left');
  } catch (error) {
    log.warn({ err: error }, 'failed to remove the empty job cgroups of earlier workers');
  }
}

/**
 * Compiles the sandbox programs and the process launcher into the work
 * folder. Without gcc, or when the build fails, the worker forks each job
 * itself, a shell, prlimit and setpriv start it, and jobs run under
 * bubblewrap's own init, which reports a signal as exit code 128 + its
 * number.
 */
async function prepareSandboxPrograms(config: WorkerConfig, toolchain: Toolchain, log: Logger): Promise<SandboxPrograms | undefined> {
  const consequence = 'so a job killed by a signal is reported as exit code 128 + the signal number, and each job starts three more programs and costs the worker a fork of its own';
  if (!toolchain.gcc) {
    log.warn(`gcc is not installed and the sandbox programs cannot be built, ${consequence}. Install gcc to report signals.`);
    return undefined;
  }
  try {
    return await buildSandboxPrograms(join(config.workDir, 'sandbox-programs'), toolchain.gcc);
  } catch (error) {
    log.warn({ err: error }, `building the sandbox programs failed, ${consequence}. Check that gcc can build static programs (libc6-dev).`);
    return undefined;
  }
}

/**
 * Claims a block of sandbox uids, runs the sandbox probe with its first uid
 * and with the sandbox entry that jobs will use, and returns the isolation
 * jobs will get, with the block when they are sandboxed. Throws when the sandbox does not work. FAAS_ALLOW_UNSANDBOXED
 * lets jobs run without one instead, with a warning in the log.
 */
async function checkIsolation(config: WorkerConfig, log: Logger, programs?: SandboxPrograms): Promise<{ isolation: IsolationLevel; uidBlock?: UidBlock }> {
  // Sandboxed jobs run as other users, who must be able to reach the job folders.
  await chmod(config.workDir, 0o711);
  const problems: string[] = [];
  const uidBlock = await claimUidBlock(config.sandboxLockDir, config.sandboxUidBase, config.slots).catch((error: unknown) => {
    problems.push(`could not claim a block of sandbox uids: ${errorMessage(error)}`);
    return undefined;
  });
  // Without a block the probe still runs, so that the error names every problem.
  const probeUser = sandboxUser(0, uidBlock?.base ?? config.sandboxUidBase);
  const report: IsolationReport = await probeIsolation({ workRoot: config.workDir, user: probeUser, enter: programs?.enter }).catch((error: unknown) => ({
    level: 'none' as const,
    checks: {},
    problems: [errorMessage(error)],
  }));
  report.problems.unshift(...problems);
  if (report.level === 'sandboxed' && uidBlock) {
    log.info({ isolation: report.level, checks: report.checks, uids: `${uidBlock.base}-${uidBlock.base + config.slots - 1}` }, 'sandbox probe passed');
    return { isolation: 'sandboxed', uidBlock };
  }
  uidBlock?.release();
  if (!config.allowUnsandboxed) {
    throw new ConfigError(
      `the job sandbox does not work on this machine (${report.problems.join('; ')}); fix it, or set FAAS_ALLOW_UNSANDBOXED=true to run jobs without isolation`,
    );
  }
  log.warn({ isolation: 'none', problems: report.problems }, 'jobs run WITHOUT a sandbox, because FAAS_ALLOW_UNSANDBOXED=true and the probe failed');
  return { isolation: 'none' };
}
