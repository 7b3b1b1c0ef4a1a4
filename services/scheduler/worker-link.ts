import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import { FailureReason, JobPhase, JobState, type Job, type JobError } from '../../gen/faas/v1/job.js';
import type {
  ConnectRequest,
  ConnectResponse,
  Heartbeat,
  JobOutcome,
  JobRejection,
  JobUpdate,
  LogData,
  RunningJob,
  WorkerHello,
} from '../../gen/faas/worker/v1/worker_service.js';
import { failureReasonName, isFinal, stateName } from '../../common/job-states.js';
import { context, contextFrom, inSpan, jobAttributes } from '../../common/tracing.js';
import { FaasError } from '../../common/errors.js';
import { cutText, recordLimits } from '../../common/limits.js';
import { rejectUndecodable } from '../../common/grpc-server.js';
import type { SchedulerContext } from './context.js';
import { endJob, releaseJob, requeueJob } from './dispatcher.js';
import { closeLog, LogWriter } from './log-store.js';
import { attemptsLeft, retryClauses, retryDelayMs, shouldRetry } from './retry.js';
import { ReportLanes } from './report-lanes.js';
import { extendWhileHeld, WorkerSession, type HeldJob } from './worker-session.js';
import { LeasedMessage, parseLease } from './queue-lease.js';
import { retryWhileUnavailable } from './nats-link.js';

export const protocolVersion = 1;
const maxSlots = 64;
const workerIdPattern = /^[A-Za-z0-9._-]{1,128}$/;
/** Heartbeat intervals a worker may miss before it is dropped. */
const missedHeartbeats = 3;
/** How long a rejected job waits before it is offered again. */
const rejectionDelayMs = 1_000;
/** Reports queued per worker before its stream is paused. */
const maxQueuedReports = 256;

/**
 * Serves WorkerService.Connect: registers the worker, applies its reports in
 * the order it sent them for each job, and hands its jobs back to the queue
 * when the stream ends.
 */
export class WorkerLinks {
  private readonly sweepTimer: NodeJS.Timeout;
  private lastSweepMs = Date.now();
  private readonly calls = new Map<WorkerSession, ServerDuplexStream<ConnectRequest, ConnectResponse>>();
  /** Jobs of workers whose stream broke, kept for the adoption grace in case the worker reconnects here. */
  private readonly parked = new Map<string, ParkedJob>();
  /** The handling of each worker's latest ended stream, by worker id, until it is done. */
  private readonly departures = new Map<string, Promise<void>>();

  constructor(private readonly context: SchedulerContext) {
    this.sweepTimer = setInterval(() => this.dropSilentWorkers(), context.config.heartbeatIntervalMs);
  }

  connect = (call: ServerDuplexStream<ConnectRequest, ConnectResponse>): void => {
    const { log } = this.context;
    let session: WorkerSession | undefined;
    // Silence while reading is paused is the scheduler's own doing, so it does not count against the worker's heartbeats.
    const flow = {
      pause: () => {
        call.pause();
        if (session) session.readingPaused = true;
      },
      resume: () => {
        call.resume();
        if (!session) return;
        session.readingPaused = false;
        session.lastSeenMs = Date.now();
      },
    };
    const lanes = new ReportLanes(maxQueuedReports, flow, (error) => log.error({ err: error, workerId: session?.workerId }, 'failed to apply a worker report'));
    const end = (reason: string) => {
      if (!session || session.closed) return;
      const ended = session;
      ended.closed = true;
      // After the takeover of the jobs it kept, and after the reports it sent.
      const departed = ended.joined.then(() => lanes.drained()).then(() => this.disconnect(ended, 'worker-left', reason));
      ended.departed = departed;
      this.departures.set(ended.workerId, departed);
      void departed.finally(() => {
        if (this.departures.get(ended.workerId) === departed) this.departures.delete(ended.workerId);
      });
    };

    call.on('data', (request: ConnectRequest) => {
      try {
        rejectUndecodable(request);
      } catch (error) {
        // One garbled message ends the stream; the worker reconnects and its jobs are requeued.
        log.warn({ workerId: session?.workerId, err: error }, 'worker sent a message that cannot be decoded');
        call.emit('error', FaasError.from(error).toStatus());
        return;
      }
      if (!session) {
        session = this.register(call, request.hello, end);
        return;
      }
      session.lastSeenMs = Date.now();
      const current = session;
      if (request.outcome) this.outcomeArrived(current, request.outcome);
      const report = request.update ?? request.outcome;
      if (report) {
        const heldJob = current.jobs.get(report.jobId);
        if (heldJob?.attempt === report.attempt) heldJob.latestReport = report;
      }
      lanes.add(laneOf(request), () => this.apply(current, request));
    });
    call.on('end', () => {
      end('the worker ended the stream');
      call.end();
    });
    call.on('error', (error: Error & { details?: string }) => end(`stream error: ${error.details ?? error.message}`));
    call.on('cancelled', () => end('the worker cancelled the stream or its connection broke'));
    call.on('close', () => end('the stream closed'));
  };

  /**
   * Ends every worker stream; used at shutdown. With an adoption grace, the
   * workers keep their running jobs for the replica they reconnect to.
   * Without one, the jobs go back to the queue, and the attempts cut short
   * here do not count against the jobs' allowed attempts.
   */
  async closeAll(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const parked of [...this.parked.values()]) this.unpark(parked);
    for (const [session, call] of [...this.calls]) {
      session.closed = true;
      await this.disconnect(session, 'scheduler-stopping', 'the scheduler is stopping');
      call.emit('error', { code: GrpcStatus.UNAVAILABLE, details: 'the scheduler is shutting down' });
    }
  }

  /** Forwards a cancel request to the worker running the job, if it is connected here. */
  cancel(jobId: string, reason: string): void {
    const session = this.context.pool.holderOf(jobId);
    const heldJob = session?.jobs.get(jobId);
    if (!session || !heldJob) return;
    heldJob.cancelReason = reason;
    session.send({ cancellation: { jobId, attempt: heldJob.attempt, reason } });
    this.context.log.info({ jobId, attempt: heldJob.attempt, workerId: session.workerId }, 'sent cancellation to worker');
  }

  private register(
    call: ServerDuplexStream<ConnectRequest, ConnectResponse>,
    hello: WorkerHello | undefined,
    end: (reason: string) => void,
  ): WorkerSession | undefined {
    const { config, log, pool } = this.context;
    const reject = (code: GrpcStatus, details: string) => {
      log.warn({ workerId: hello?.workerId, details }, 'rejected worker');
      call.emit('error', { code, details });
      return undefined;
    };
    if (!hello) return reject(GrpcStatus.INVALID_ARGUMENT, 'the first message on the stream must be hello');
    if (hello.protocolVersion !== protocolVersion) {
      return reject(
        GrpcStatus.FAILED_PRECONDITION,
        `worker protocol version ${hello.protocolVersion} is not supported; this scheduler speaks version ${protocolVersion}: upgrade the worker`,
      );
    }
    if (!workerIdPattern.test(hello.workerId)) {
      return reject(GrpcStatus.INVALID_ARGUMENT, 'hello.worker_id must be 1 to 128 characters of A-Z a-z 0-9 . _ -');
    }
    if (hello.slots < 1 || hello.slots > maxSlots) {
      return reject(GrpcStatus.INVALID_ARGUMENT, `hello.slots is ${hello.slots}; use 1 to ${maxSlots}`);
    }
    const previous = this.replaceStream(hello.workerId);
    if (!previous) {
      return reject(
        GrpcStatus.ALREADY_EXISTS,
        `a worker with id ${hello.workerId} is connected and sends heartbeats; give every worker process its own WORKER_ID. ` +
          `A worker that reconnects replaces its old stream once that has been silent for ${config.heartbeatIntervalMs} ms`,
      );
    }
    const session = new WorkerSession(hello.workerId, hello.slots, hello.hostname, call, end);
    this.calls.set(session, call);
    session.send({
      hello: {
        schedulerId: config.schedulerId,
        protocolVersion,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        adoptionGraceMs: config.adoptionGraceMs,
      },
    });
    log.info({ workerId: session.workerId, slots: session.slots, hostname: session.hostname, running: hello.running.length }, 'worker connected');
    // The jobs it kept running take their slots before the dispatcher can pick
    // the worker, and only once the stream it replaces has let go of them.
    session.joined = previous
      .then(() => this.adoptAll(session, hello.running))
      .catch((error: unknown) => log.error({ err: error, workerId: session.workerId }, 'failed to take over the jobs the worker kept running'))
      .finally(() => {
        if (!session.closed) pool.add(session);
      });
    return session;
  }

  /**
   * Makes way for a new stream of worker `workerId`. A stream of that id
   * still open here is stale once it has been silent for a heartbeat
   * interval: the worker has one stream at a time, and its side of the old
   * one broke before this side noticed. That stream is ended, and its jobs
   * are kept for the adoption grace, even a draining worker's, since the
   * worker is back. Resolves once the last stream of that id has been
   * handled so, for the new stream to take the jobs over. Returns undefined
   * while the open stream still sends heartbeats, as a second process with
   * the same id would, or while this replica has paused reading it.
   */
  private replaceStream(workerId: string): Promise<void> | undefined {
    let latest: WorkerSession | undefined;
    for (const session of this.calls.keys()) if (session.workerId === workerId && !session.closed) latest = session;
    if (latest) {
      const silentMs = Date.now() - latest.lastSeenMs;
      if (latest.readingPaused || silentMs < this.context.config.heartbeatIntervalMs) return undefined;
      this.context.log.warn({ workerId, silentMs }, 'worker opened a new stream while its old one was silent; the new stream replaces it');
      latest.replaced = true;
      latest.end('the worker opened a new stream');
      this.calls.get(latest)?.emit('error', { code: GrpcStatus.ABORTED, details: `a new stream of worker ${workerId} replaced this one` });
    }
    return this.departures.get(workerId)?.catch(() => undefined) ?? Promise.resolve();
  }

  private async adoptAll(session: WorkerSession, running: RunningJob[]): Promise<void> {
    for (const job of running) {
      // A stopping replica takes nothing over; the worker's stream closes, and it reconnects elsewhere.
      if (this.context.stopping.aborted) return;
      try {
        const rejection = await this.adopt(session, job);
        if (rejection === undefined) continue;
        session.send({ cancellation: { jobId: job.jobId, attempt: job.attempt, reason: rejection } });
        this.context.log.info({ jobId: job.jobId, attempt: job.attempt, workerId: session.workerId, reason: rejection }, 'did not take over a job the worker kept running');
      } catch (error) {
        session.send({ cancellation: { jobId: job.jobId, attempt: job.attempt, reason: 'the scheduler could not take the job over' } });
        this.context.log.warn({ err: error, jobId: job.jobId, workerId: session.workerId }, 'failed to take over a job the worker kept running');
      }
    }
  }

  /**
   * Takes over a job that a reconnected worker kept running, and sends the
   * worker the output offset to resend from. Returns the reason instead when
   * the job is no longer this attempt's on this worker.
   */
  private async adopt(session: WorkerSession, running: RunningJob): Promise<string | undefined> {
    const { store, nats, config, log, pool } = this.context;
    const { jobId, attempt } = running;
    if (session.jobs.has(jobId) || pool.holderOf(jobId)) return 'another worker runs the job';
    const ours = (job: Job) => job.state === JobState.JOB_STATE_RUNNING && job.attempt === attempt && job.workerId === session.workerId;

    const parked = this.parked.get(jobId);
    const keptHere = parked !== undefined && parked.workerId === session.workerId && parked.heldJob.attempt === attempt;
    const lease = parseLease(running.lease, nats.names.jobStream, nats.names.dispatchConsumer);
    const leaseProblem = 'its lease does not name a queue message of this platform';
    if (!keptHere && !lease) return leaseProblem;
    const current = await store.get(jobId);
    if (!current || !ours(current.job)) return 'the job moved on while its worker reconnected';

    let heldJob: HeldJob;
    if (keptHere && current.revision === parked.heldJob.record?.revision) {
      // The worker came back to this replica, which kept the job and its message, and the record is as this replica last wrote it.
      this.parked.delete(jobId);
      clearTimeout(parked.timer);
      heldJob = parked.heldJob;
      await heldJob.log!.flush().catch(() => undefined);
    } else {
      // A record changed meanwhile (by a Cancel, or by another replica that took the job over) is taken over afresh.
      if (keptHere) {
        await parked.heldJob.log!.flush().catch(() => undefined);
        this.unpark(parked);
      }
      if (!lease) return leaseProblem;
      // The write changes the revision, which a replica that still keeps the job for this worker checks before it requeues the job.
      const record = await store.transition(jobId, (job) => (ours(job) ? { ...job } : undefined), current);
      if (record.revision === current.revision || !ours(record.job)) return 'the job moved on while its worker reconnected';
      const message = new LeasedMessage(nats.nc, running.lease, lease.seq);
      message.working();
      heldJob = extendWhileHeld({ jobId, attempt, message, record }, config.ackWaitMs);
      try {
        heldJob.log = await LogWriter.open(nats.js, nats.jsm, nats.names, jobId, attempt, this.outageRetry(jobId), true);
      } catch (error) {
        clearInterval(heldJob.extendTimer);
        throw error;
      }
    }
    if (session.closed) {
      this.park(session, heldJob);
      return undefined;
    }
    session.jobs.set(jobId, heldJob);
    session.send({ adoption: { jobId, attempt, outputOffset: heldJob.log!.attemptOffset } });
    log.info({ jobId, attempt, workerId: session.workerId, outputOffset: heldJob.log!.attemptOffset }, 'took over a job its worker kept running');
    if (heldJob.record?.job.cancelRequested) {
      heldJob.cancelReason ??= 'cancelled while its worker reconnected';
      session.send({ cancellation: { jobId, attempt, reason: heldJob.cancelReason } });
    }
    return undefined;
  }

  /** Keeps a job of a worker whose stream broke, extending its message, until the worker comes back or the grace ends. */
  private park(session: WorkerSession, heldJob: HeldJob): void {
    if (this.context.stopping.aborted) {
      // As at shutdown: the replica the worker reconnects to takes the job over, or JetStream redelivers it.
      clearInterval(heldJob.extendTimer);
      return;
    }
    const parked: ParkedJob = {
      workerId: session.workerId,
      heldJob,
      timer: setTimeout(() => {
        this.parked.delete(heldJob.jobId);
        void this.settleDeparted(session, heldJob, 'worker-left', true).then(() => this.context.pool.notify());
      }, this.context.config.adoptionGraceMs),
    };
    parked.timer.unref();
    this.parked.set(heldJob.jobId, parked);
  }

  /** Stops keeping a parked job, leaving its message to the replica that takes the job over, or to redelivery. */
  private unpark(parked: ParkedJob): void {
    clearTimeout(parked.timer);
    clearInterval(parked.heldJob.extendTimer);
    this.parked.delete(parked.heldJob.jobId);
  }

  private outageRetry(jobId: string) {
    return {
      natsLink: this.context.natsLink,
      stopping: this.context.stopping,
      onRetry: (delayMs: number) => this.context.log.warn({ jobId, retryInMs: delayMs }, 'cannot store job output while NATS is unavailable; retrying'),
    };
  }

  private async apply(session: WorkerSession, request: ConnectRequest): Promise<void> {
    if (request.update) {
      const update = request.update;
      // Inside the worker's span of the attempt, so log lines name its trace.
      await context.with(contextFrom(update.traceContext), () => this.applyUpdate(session, update));
    } else if (request.log) await this.applyLog(session, request.log);
    else if (request.outcome) {
      const outcome = request.outcome;
      await inSpan(
        'store result',
        {
          parent: contextFrom(outcome.traceContext),
          attributes: {
            [jobAttributes.jobId]: outcome.jobId,
            [jobAttributes.attempt]: outcome.attempt,
            [jobAttributes.workerId]: session.workerId,
            [jobAttributes.state]: stateName(outcome.state),
          },
        },
        () =>
          retryWhileUnavailable(() => this.applyOutcome(session, outcome), {
            natsLink: this.context.natsLink,
            stopping: this.context.stopping,
            onRetry: (delayMs) => this.context.log.warn({ jobId: outcome.jobId, retryInMs: delayMs }, 'cannot store a job outcome while NATS is unavailable; retrying'),
          }),
      ).catch((error: unknown) => {
        this.handBackUnsettled(session, outcome);
        throw error;
      });
    }
    else if (request.heartbeat) this.applyHeartbeat(session, request.heartbeat);
    else if (request.rejection) this.applyRejection(session, request.rejection);
  }

  private applyHeartbeat(session: WorkerSession, heartbeat: Heartbeat): void {
    if (heartbeat.draining && !session.draining) {
      session.draining = true;
      this.context.log.info({ workerId: session.workerId }, 'worker is draining');
    }
    // A job the worker no longer runs, though its outcome never arrived, goes
    // back to the queue; the redelivery finds it RUNNING and starts a new attempt.
    const running = new Set(heartbeat.runningJobIds);
    for (const heldJob of [...session.jobs.values()]) {
      // A job whose outcome is being stored has left the worker's list on purpose.
      if (!heldJob.log || heldJob.settling || running.has(heldJob.jobId)) {
        heldJob.missedHeartbeats = 0;
        continue;
      }
      heldJob.missedHeartbeats = (heldJob.missedHeartbeats ?? 0) + 1;
      if (heldJob.missedHeartbeats < missedHeartbeats) continue;
      this.context.log.warn({ jobId: heldJob.jobId, attempt: heldJob.attempt, workerId: session.workerId }, 'worker forgot a job; requeueing it');
      this.requeue(session, heldJob);
    }
  }

  /** Releases a held job and returns its queue message for redelivery after `delayMs`, freeing the slot for the dispatcher. */
  private requeue(session: WorkerSession, heldJob: HeldJob, delayMs?: number): void {
    releaseJob(session, heldJob.jobId);
    heldJob.message.nak(delayMs);
    this.context.pool.notify();
  }

  /**
   * Returns a job whose outcome could not be stored to the queue. Its slot
   * was freed when the outcome arrived, and the worker no longer lists it, so
   * no heartbeat check would return it. The redelivery finds it RUNNING, and
   * the dispatcher runs it again or ends it.
   */
  private handBackUnsettled(session: WorkerSession, outcome: JobOutcome): void {
    const heldJob = session.jobs.get(outcome.jobId);
    if (!heldJob?.settling || heldJob.attempt !== outcome.attempt) return;
    this.requeue(session, heldJob);
    this.context.log.warn({ jobId: outcome.jobId, attempt: outcome.attempt, workerId: session.workerId }, 'failed to store a job outcome; the job goes back to the queue');
  }

  private applyRejection(session: WorkerSession, rejection: JobRejection): void {
    const heldJob = session.jobs.get(rejection.jobId);
    if (!heldJob || heldJob.attempt !== rejection.attempt || heldJob.log) return;
    this.requeue(session, heldJob, rejectionDelayMs);
    this.context.log.info({ jobId: rejection.jobId, workerId: session.workerId, reason: rejection.reason }, 'worker rejected job');
  }

  private async applyUpdate(session: WorkerSession, update: JobUpdate): Promise<void> {
    const { store, nats, log } = this.context;
    const heldJob = session.jobs.get(update.jobId);
    if (!heldJob || heldJob.attempt !== update.attempt) return;

    if (!heldJob.log) {
      // The first update means the worker accepted the job: it is RUNNING now.
      const stored = await store.transition(update.jobId, (job) => {
        const startable =
          job.state === JobState.JOB_STATE_QUEUED ||
          (job.state === JobState.JOB_STATE_RUNNING && job.attempt < update.attempt);
        if (!startable) return undefined;
        return {
          ...job,
          state: JobState.JOB_STATE_RUNNING,
          phase: update.phase,
          attempt: update.attempt,
          workerId: session.workerId,
          startedAt: new Date(),
          commitSha: update.commitSha,
          entrypoint: update.entrypoint,
          appliedLimits: update.appliedLimits,
          exitCode: undefined,
          signal: '',
          error: undefined,
        };
      }, heldJob.record);
      heldJob.record = stored;
      const won =
        stored.job.state === JobState.JOB_STATE_RUNNING &&
        stored.job.attempt === update.attempt &&
        stored.job.workerId === session.workerId;
      if (!won) {
        // Cancelled or taken by another delivery while it was being assigned.
        session.send({ cancellation: { jobId: update.jobId, attempt: update.attempt, reason: 'the job is no longer queued' } });
        releaseJob(session, update.jobId);
        if (isFinal(stored.job.state)) heldJob.message.ack();
        this.context.pool.notify();
        return;
      }
      heldJob.log = await LogWriter.open(nats.js, nats.jsm, nats.names, update.jobId, update.attempt, this.outageRetry(update.jobId));
      log.info({ jobId: update.jobId, attempt: update.attempt, workerId: session.workerId }, 'job started');
      return;
    }

    // A later update or the outcome has arrived and will store a newer phase, so
    // this one is skipped. Under load that saves a write for each short job.
    if (heldJob.latestReport !== update) return;
    heldJob.record = await store.transition(
      update.jobId,
      (job) => {
        if (job.state !== JobState.JOB_STATE_RUNNING || job.attempt !== update.attempt) return undefined;
        return { ...job, phase: update.phase, commitSha: update.commitSha || job.commitSha, entrypoint: update.entrypoint || job.entrypoint };
      },
      heldJob.record,
    );
  }

  private async applyLog(session: WorkerSession, data: LogData): Promise<void> {
    const heldJob = session.jobs.get(data.jobId);
    if (!heldJob?.log || heldJob.attempt !== data.attempt) return;
    await heldJob.log.append(data.attempt, data.stream, data.data);
  }

  /**
   * Frees the worker's slot as an outcome arrives, before the outcome waits
   * for earlier reports of its job and is stored, so the next job can be
   * dispatched meanwhile.
   */
  private outcomeArrived(session: WorkerSession, outcome: JobOutcome): void {
    const heldJob = session.jobs.get(outcome.jobId);
    if (!heldJob || heldJob.attempt !== outcome.attempt || heldJob.settling || !isFinal(outcome.state)) return;
    heldJob.settling = true;
    this.context.pool.notify();
  }

  private async applyOutcome(session: WorkerSession, outcome: JobOutcome): Promise<void> {
    const { store, blobs, nats, log, pool } = this.context;
    const heldJob = session.jobs.get(outcome.jobId);
    if (!heldJob || heldJob.attempt !== outcome.attempt) return;
    if (!isFinal(outcome.state)) {
      log.warn({ jobId: outcome.jobId, state: outcome.state }, 'worker reported an outcome that is not a final state');
      return;
    }

    if (!heldJob.log) {
      // An outcome before acceptance cannot be recorded; requeue the job.
      this.requeue(session, heldJob);
      return;
    }
    try {
      await heldJob.log.flush();
    } catch (error) {
      // The outcome still counts; only some output is missing from Logs.
      log.error({ err: error, jobId: outcome.jobId, attempt: outcome.attempt }, 'failed to store part of the job output');
    }
    if (outcome.result) await blobs.putResult(outcome.jobId, outcome.attempt, outcome.result);
    let settled = 'moved on' as 'ended' | 'retried' | 'moved on';
    const stored = await store.transition(outcome.jobId, (job) => {
      settled = 'moved on';
      if (job.state !== JobState.JOB_STATE_RUNNING || job.attempt !== outcome.attempt) return undefined;
      // The worker reports only that it stopped the job, so the reason comes from the Cancel call.
      const cancelReason = outcome.state === JobState.JOB_STATE_CANCELLED ? heldJob.cancelReason : undefined;
      const message = cancelReason ?? outcome.error?.message ?? '';
      if (shouldRetry(job, outcome, this.context.config)) {
        settled = 'retried';
        return requeueJob(job, outcome.error && recordedError(outcome.error, `attempt ${job.attempt} failed: ${message}${retryClauses.retried}`));
      }
      settled = 'ended';
      const failedAgain = outcome.state !== JobState.JOB_STATE_CANCELLED && outcome.state !== JobState.JOB_STATE_SUCCEEDED && outcome.error && job.attempt > 1;
      return {
        ...job,
        state: outcome.state,
        phase: JobPhase.JOB_PHASE_UNSPECIFIED,
        finishedAt: new Date(),
        commitSha: outcome.commitSha || job.commitSha,
        exitCode: outcome.result?.exitCode,
        signal: outcome.result?.signal ?? '',
        entrypoint: outcome.result?.entrypoint || job.entrypoint,
        error:
          outcome.state === JobState.JOB_STATE_SUCCEEDED || !outcome.error
            ? undefined
            : recordedError(outcome.error, failedAgain ? `failed after ${job.attempt} attempts; the last one: ${message}` : message),
      };
    }, heldJob.record);
    if (settled === 'retried') {
      heldJob.message.nak(retryDelayMs(outcome.attempt, this.context.config));
    } else {
      if (settled === 'ended') await closeLog(nats.js, nats.names, outcome.jobId);
      heldJob.message.ack();
    }
    releaseJob(session, outcome.jobId);
    pool.notify();
    log.info(
      {
        jobId: outcome.jobId,
        attempt: outcome.attempt,
        workerId: session.workerId,
        state: stateName(stored.job.state),
        reason: stored.job.error && failureReasonName(stored.job.error.reason),
        error: stored.job.error?.message,
        settled,
      },
      'attempt finished',
    );
  }

  /**
   * Handles every job of a departed worker. With an adoption grace, a
   * worker that left keeps its jobs running while it reconnects, so this
   * replica keeps them for it for the grace (`park`). A stopping replica
   * leaves them to the replica the worker reconnects to. Without a grace,
   * each job goes back to the queue or ends. `reason` goes into the log line.
   */
  private async disconnect(session: WorkerSession, cause: 'worker-left' | 'scheduler-stopping', reason: string): Promise<void> {
    const { config, log, pool } = this.context;
    pool.remove(session);
    this.calls.delete(session);
    log.info({ workerId: session.workerId, jobs: session.jobs.size, reason }, 'worker disconnected');
    for (const heldJob of [...session.jobs.values()]) {
      // Its outcome arrived and is being stored. That settles the job, or hands it back to the queue on failure.
      if (heldJob.settling) continue;
      if (!heldJob.log) {
        // Not accepted yet: the worker drops it, and the job goes to another one.
        releaseJob(session, heldJob.jobId);
        heldJob.message.nak();
      } else if (config.adoptionGraceMs > 0 && !(cause === 'worker-left' && session.draining && !session.replaced)) {
        // A draining worker that left is not coming back: it stopped what it still ran.
        session.jobs.delete(heldJob.jobId);
        if (cause === 'worker-left') {
          this.park(session, heldJob);
        } else {
          // Nothing extends the message from now on: the replica that takes the job over does, or JetStream redelivers it.
          clearInterval(heldJob.extendTimer);
          log.info({ jobId: heldJob.jobId, attempt: heldJob.attempt, workerId: session.workerId }, 'left a running job to the replica its worker reconnects to');
        }
      } else {
        releaseJob(session, heldJob.jobId);
        await this.settleDeparted(session, heldJob, cause);
      }
    }
    pool.notify();
  }

  /**
   * Hands a running job of a departed worker back to the queue, or ends it.
   * After parking, only while the record is as this replica last wrote it:
   * a changed record means another replica took the job over, or will
   * settle it when JetStream redelivers the message.
   */
  private async settleDeparted(session: WorkerSession, heldJob: HeldJob, cause: 'worker-left' | 'scheduler-stopping', parked = false): Promise<void> {
    const { store, config, nats, log } = this.context;
    clearInterval(heldJob.extendTimer);
    try {
      let outcome = 'moved on' as 'requeued' | 'ended' | 'moved on';
      await store.transition(heldJob.jobId, (job, revision) => {
        outcome = 'moved on';
        if (job.state !== JobState.JOB_STATE_RUNNING || job.attempt !== heldJob.attempt) return undefined;
        if (parked && revision !== heldJob.record?.revision) return undefined;
        if (job.cancelRequested) {
          outcome = 'ended';
          return endJob(job, JobState.JOB_STATE_CANCELLED, FailureReason.FAILURE_REASON_CANCELLED, 'cancelled; its worker disconnected');
        }
        if (cause === 'scheduler-stopping') {
          outcome = 'requeued';
          const error = {
            reason: FailureReason.FAILURE_REASON_WORKER_LOST,
            message: `the scheduler stopped during attempt ${job.attempt}, which does not count against the job's attempts${retryClauses.runsAgain}`,
          };
          return { ...requeueJob(job, error), interruptedAttempts: job.interruptedAttempts + 1 };
        }
        if (!attemptsLeft(job, config)) {
          outcome = 'ended';
          return endJob(
            job,
            JobState.JOB_STATE_FAILED,
            FailureReason.FAILURE_REASON_WORKER_LOST,
            `gave up after ${job.attempt} attempts; worker ${session.workerId} disconnected during the last one`,
          );
        }
        outcome = 'requeued';
        return requeueJob(job, { reason: FailureReason.FAILURE_REASON_WORKER_LOST, message: `worker ${session.workerId} disconnected during attempt ${job.attempt}` });
      }, parked ? heldJob.record : undefined);
      if (outcome === 'requeued') heldJob.message.nak(retryDelayMs(heldJob.attempt, config));
      if (outcome === 'ended') {
        await closeLog(nats.js, nats.names, heldJob.jobId);
        heldJob.message.ack();
      }
      log.info({ jobId: heldJob.jobId, attempt: heldJob.attempt, workerId: session.workerId, outcome }, 'settled job of departed worker');
    } catch (error) {
      // The message is left unacknowledged, so JetStream redelivers it after the ack wait.
      log.error({ err: error, jobId: heldJob.jobId, workerId: session.workerId }, 'failed to hand a job back to the queue');
    }
  }

  private dropSilentWorkers(): void {
    const intervalMs = this.context.config.heartbeatIntervalMs;
    const now = Date.now();
    const lateMs = now - this.lastSweepMs - intervalMs;
    this.lastSweepMs = now;
    // A sweep this late means this process stalled (a long pause, a starved
    // CPU): heartbeats may be waiting unread, so the next sweep decides.
    if (lateMs > intervalMs) {
      this.context.log.warn({ lateMs }, 'the scheduler stalled; checking worker heartbeats at the next sweep');
      return;
    }
    const limitMs = intervalMs * missedHeartbeats;
    for (const [session, call] of this.calls) {
      if (!session.readingPaused && now - session.lastSeenMs > limitMs) {
        this.context.log.warn({ workerId: session.workerId }, 'worker missed its heartbeats; dropping it');
        call.emit('error', { code: GrpcStatus.DEADLINE_EXCEEDED, details: `no heartbeat for ${limitMs} ms` });
      }
    }
  }
}

/** A job whose worker's stream broke, kept for the adoption grace. */
interface ParkedJob {
  workerId: string;
  heldJob: HeldJob;
  timer: NodeJS.Timeout;
}

/** Returns the lane of a report: its job's id, or an empty string for a heartbeat. */
function laneOf(request: ConnectRequest): string {
  return request.update?.jobId ?? request.log?.jobId ?? request.outcome?.jobId ?? request.rejection?.jobId ?? '';
}

/**
 * Returns the error a record keeps of a worker's report, with `message` cut
 * to the record's limit. git's output from a hostile server can be so long
 * that a record containing it whole could not be stored.
 */
function recordedError(reported: JobError, message: string): JobError {
  return { ...reported, message: cutText(message, recordLimits.errorMessageBytes) };
}
