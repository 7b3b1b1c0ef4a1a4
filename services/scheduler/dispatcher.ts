import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { FailureReason, Job, JobPhase, JobState, type JobError } from '../../gen/faas/v1/job.js';
import { isFinal } from '../../common/job-states.js';
import { carrierOf, extractHeaders, inSpan, jobAttributes, messagingAttributes, SpanKind, trace, tracer } from '../../common/tracing.js';
import type { SchedulerContext } from './context.js';
import type { StoredJob } from './job-store.js';
import { closeLog } from './log-store.js';
import { attemptsLeft, previousAttemptError } from './retry.js';
import { extendWhileHeld, type WorkerSession } from './worker-session.js';

/** Body of a queue message. */
export interface QueuedJobMessage {
  jobId: string;
  /** Revision of `record`; both are absent in messages of earlier versions and of requeued orphans. */
  revision?: number;
  /** The job record as Submit stored it, protobuf in base64. */
  record?: string;
}

const pullExpiresMs = 2_000;
/** Age below which a queue message's own copy of the record is trusted instead of read. */
export const carriedRecordMaxAgeMs = 2_000;
const retryDelayMs = 1_000;

/**
 * Pulls jobs from the dispatch consumer while this replica has a free worker
 * slot, and hands each to a worker. The queue message stays unacknowledged
 * (extended with `working()`) until the job's outcome is stored.
 */
export class Dispatcher {
  private readonly controller = new AbortController();

  constructor(private readonly context: SchedulerContext) {}

  start(): void {
    void this.run();
  }

  /**
   * Stops pulling. A pull in flight is not waited for: a job it returns
   * after this is handed back to the queue at once.
   */
  stop(): void {
    this.controller.abort();
  }

  private async run(): Promise<void> {
    const { nats, log, pool } = this.context;
    const signal = this.controller.signal;
    let consumer: Consumer | undefined;
    while (!signal.aborted) {
      try {
        await pool.waitForFreeSlot(signal);
        if (signal.aborted) break;
        consumer ??= await nats.js.consumers.get(nats.names.jobStream, nats.names.dispatchConsumer);
        const message = await consumer.next({ expires: pullExpiresMs });
        if (message && signal.aborted) message.nak();
        else if (message) await this.traceDispatch(message);
      } catch (error) {
        if (signal.aborted) break;
        log.warn({ err: error }, 'failed to pull the next job; retrying');
        consumer = undefined;
        await sleep(retryDelayMs, signal);
      }
    }
  }

  /**
   * Dispatches inside a consumer span whose parent is the producer span that
   * the queue message's headers name, so the job keeps one trace.
   */
  private traceDispatch(message: JsMsg): Promise<void> {
    const subject = message.subject;
    return inSpan(
      `process ${subject}`,
      {
        kind: SpanKind.CONSUMER,
        parent: extractHeaders(message.headers),
        attributes: messagingAttributes('process', subject, {
          'messaging.consumer.group.name': this.context.nats.names.dispatchConsumer,
          'messaging.message.body.size': message.data.length,
          'messaging.nats.delivery_count': message.info.deliveryCount,
        }),
      },
      () => this.dispatch(message),
    );
  }

  private async dispatch(message: JsMsg): Promise<void> {
    const { store, log, config } = this.context;
    const body = message.json<QueuedJobMessage>();
    const jobId = body.jobId;
    // A fresh first delivery may use the record the message carries: acceptance writes with compare-and-set,
    // so a job that changed since (a cancel, say) costs a failed write there and a cancellation to the worker.
    // An older message is read again, so a backlog cancelled in bulk never reaches the workers.
    const ageMs = Date.now() - Number(message.info.timestampNanos) / 1_000_000;
    const carried = carriedRecord(body, message.info.deliveryCount, ageMs);
    const stored = carried ?? (await store.get(jobId));
    if (!stored) {
      log.error({ jobId }, 'queue message names a job that has no record; dropping it');
      message.term('job record missing');
      return;
    }
    const job = stored.job;
    const deliveryCount = message.info.deliveryCount;
    trace.getActiveSpan()?.setAttribute(jobAttributes.jobId, jobId);

    if (isFinal(job.state)) {
      message.ack();
      return;
    }
    const holder = this.context.pool.holderOf(jobId);
    if (holder) {
      const heldJob = holder.jobs.get(jobId)!;
      if (heldJob.message.seq === message.seq) {
        // JetStream redelivered a job this replica still runs: keep the new handle.
        heldJob.message = message;
      } else {
        // A second queue message for a job this replica already handed out.
        message.ack();
      }
      return;
    }
    if (job.state === JobState.JOB_STATE_RUNNING) {
      if (deliveryCount === 1) {
        // A second queue message for a job that another delivery started.
        message.ack();
        return;
      }
      // The replica that ran the previous attempt is gone.
      if (await this.settleLostAttempt(job, message)) return;
    }

    const worker = this.context.pool.pick();
    if (!worker) {
      message.nak(retryDelayMs);
      return;
    }
    const attempt = job.attempt + 1;
    const input = job.inputSizeBytes > 0 ? await this.context.blobs.getInput(jobId) : Buffer.alloc(0);
    if (worker.freeSlots === 0 || this.context.pool.holderOf(jobId)) {
      // The worker left, or the job was handed out, while the input was read.
      message.nak(retryDelayMs);
      return;
    }
    const timeoutSeconds = job.spec!.timeoutSeconds || config.defaultTimeoutSeconds;
    worker.jobs.set(jobId, extendWhileHeld({ jobId, attempt, message, record: stored }, config.ackWaitMs));
    recordQueueWait(message, jobId);
    trace.getActiveSpan()?.setAttributes({ [jobAttributes.attempt]: attempt, [jobAttributes.workerId]: worker.workerId });
    worker.send({
      assignment: {
        jobId,
        attempt,
        spec: { ...job.spec!, input },
        timeoutSeconds,
        traceContext: carrierOf(),
        submittedAt: job.createdAt,
        lease: ackSubject(message),
        previousAttemptError: attempt > 1 ? previousAttemptError(job.error?.message ?? '') : '',
      },
    });
    this.context.metrics.attemptDispatched(deliveryCount);
    log.info({ jobId, attempt, workerId: worker.workerId, deliveryCount }, 'assigned job');
  }

  /**
   * Ends a job whose previous attempt was lost with its replica, when it
   * should not run again. Returns false when the job should be assigned.
   */
  private async settleLostAttempt(job: Job, message: JsMsg): Promise<boolean> {
    const { store, config, nats } = this.context;
    const cancel = job.cancelRequested;
    if (!cancel && attemptsLeft(job, config)) return false;
    const updated = await store.transition(job.id, (current) => {
      if (current.state !== JobState.JOB_STATE_RUNNING || current.attempt !== job.attempt) return undefined;
      return endJob(
        current,
        cancel ? JobState.JOB_STATE_CANCELLED : JobState.JOB_STATE_FAILED,
        cancel ? FailureReason.FAILURE_REASON_CANCELLED : FailureReason.FAILURE_REASON_WORKER_LOST,
        cancel
          ? 'cancelled while its worker was lost'
          : `gave up after ${current.attempt} attempts; the last one lost its worker`,
      );
    });
    if (isFinal(updated.job.state)) await closeLog(nats.js, nats.names, job.id);
    message.ack();
    return true;
  }
}

/**
 * Records the time the job's message waited in the queue, from its publish
 * to its hand-off to a worker, as a span beside the dispatch span.
 */
function recordQueueWait(message: JsMsg, jobId: string): void {
  const publishedMs = Number(message.info.timestampNanos) / 1_000_000;
  tracer()
    .startSpan('queue wait', { startTime: publishedMs, attributes: { [jobAttributes.jobId]: jobId } }, extractHeaders(message.headers))
    .end();
}

/**
 * Returns the subject that acknowledges this delivery of `message`, the
 * lease a worker sends back when it reconnects with the job running.
 *
 * NOTE: nats.js keeps the subject in the message's `reply`, which its JsMsg
 * type does not declare (checked against @nats-io/jetstream 3.x). Without
 * it the lease is empty, and a worker's jobs cannot move to another replica.
 */
function ackSubject(message: JsMsg): string {
  const reply = (message as unknown as { reply?: unknown }).reply;
  return typeof reply === 'string' ? reply : '';
}

/** Returns `job` moved to a final state with a reason. */
export function endJob(job: Job, state: JobState, reason: FailureReason, message: string): Job {
  return {
    ...job,
    state,
    phase: JobPhase.JOB_PHASE_UNSPECIFIED,
    finishedAt: new Date(),
    error: { reason, message },
  };
}

/** Returns `job` back in the queue for another attempt, with `error` telling why the last one ended. */
export function requeueJob(job: Job, error: JobError | undefined): Job {
  return { ...job, state: JobState.JOB_STATE_QUEUED, phase: JobPhase.JOB_PHASE_UNSPECIFIED, workerId: '', error };
}

export function releaseJob(session: WorkerSession, jobId: string): void {
  const heldJob = session.jobs.get(jobId);
  if (!heldJob) return;
  clearInterval(heldJob.extendTimer);
  session.jobs.delete(jobId);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * Returns the record a queue message carries when the dispatcher may use it:
 * on the first delivery of a message younger than `carriedRecordMaxAgeMs`.
 * Returns undefined when the message carries none, or one that cannot be read.
 */
export function carriedRecord(body: QueuedJobMessage, deliveryCount: number, ageMs: number): StoredJob | undefined {
  if (deliveryCount !== 1 || !(ageMs < carriedRecordMaxAgeMs)) return undefined;
  if (body.record === undefined || body.revision === undefined) return undefined;
  try {
    const job = Job.decode(Buffer.from(body.record, 'base64'));
    return job.id === body.jobId ? { job, revision: body.revision } : undefined;
  } catch {
    return undefined;
  }
}
