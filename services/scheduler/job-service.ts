import type { Metadata } from '@grpc/grpc-js';
import { KvWatchInclude } from '@nats-io/kv';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { FailureReason, Job, JobLimits, JobSpec, JobState } from '../../gen/faas/v1/job.js';
import type {
  CancelRequest,
  CancelResponse,
  ListRequest,
  ListResponse,
  LogsRequest,
  LogsResponse,
  ResultRequest,
  ResultResponse,
  StatusRequest,
  StatusResponse,
  SubmitBatchRequest,
  SubmitBatchResponse,
  SubmitRequest,
  SubmitResponse,
  WatchRequest,
  WatchResponse,
} from '../../gen/faas/v1/job_service.js';
import { callerFromMetadata, type Caller } from '../../common/caller.js';
import { ErrorCode, FaasError, invalidArgument } from '../../common/errors.js';
import { isJobId, newJobId } from '../../common/ids.js';
import { isFinal, stateName } from '../../common/job-states.js';
import { specLimits } from '../../common/limits.js';
import { logFailure } from '../../common/grpc-server.js';
import { submitEach, validateBatchSize } from '../../common/submit-batch.js';
import { inSpan, injectHeaders, jobAttributes, messagingAttributes, SpanKind } from '../../common/tracing.js';
import { validateCancelReason, validateJobId, validateSpec, validateStateFilter } from '../../common/validation.js';
import type { SchedulerConfig } from './config.js';
import type { SchedulerContext } from './context.js';
import { endJob, type QueuedJobMessage } from './dispatcher.js';
import { idempotencyHash, type StoredJob } from './job-store.js';
import { closeLog, readLogs } from './log-store.js';

/** How long a Submit waits for a concurrent Submit with the same key to store its job. */
const idempotencyWaitMs = 2_000;

/**
 * The job API as the scheduler serves it to the gateway: the same contract
 * as faas.v1.JobService, acting for the caller named in the metadata.
 */
export class SchedulerJobService {
  constructor(
    private readonly context: SchedulerContext,
    private readonly publishCancel: (jobId: string, reason: string) => void,
  ) {}

  async submit(request: SubmitRequest, metadata: Metadata): Promise<SubmitResponse> {
    const caller = callerFromMetadata(metadata);
    const spec = request.spec;
    validateSpec(spec, { allowHttp: true, maxTimeoutSeconds: Number.MAX_SAFE_INTEGER });
    const { maxAttemptsLimit, maxAttempts } = this.context.config;
    if (spec.retry && spec.retry.maxAttempts > maxAttemptsLimit) {
      throw invalidArgument(
        'spec.retry.max_attempts',
        `is ${spec.retry.maxAttempts}; this platform allows 1 to ${maxAttemptsLimit}, or 0 for its default of ${Math.min(maxAttempts, maxAttemptsLimit)}`,
      );
    }

    let jobId = newJobId();
    const { store, config } = this.context;
    const reserving = store.reserveActiveSlot(caller.subject, jobId, config.maxActiveJobsPerOwner);
    if (spec.idempotencyKey === '') {
      await reserving;
    } else {
      // The slot and the key are claimed side by side, because neither depends on the other and each costs a round trip.
      const [reserved, claimed] = await Promise.allSettled([
        reserving,
        store.claimIdempotencyKey(caller.subject, spec.idempotencyKey, jobId),
      ]);
      if (claimed.status === 'rejected') {
        if (reserved.status === 'fulfilled') await store.releaseActiveSlot(caller.subject, jobId);
        throw claimed.reason;
      }
      const claim = claimed.value;
      if (!claim.existing && reserved.status === 'rejected') {
        // A Submit retried after the limit turned it away must not wait for this job, which is never stored.
        await store.dropIdempotencyKey(caller.subject, spec.idempotencyKey, claim.revision!).catch((error: unknown) => {
          // The retry then waits a moment for this job before it takes the key over.
          this.context.log.warn({ err: error, jobId }, 'failed to drop the idempotency key of a Submit over the limit');
        });
        throw reserved.reason;
      }
      if (claim.existing) {
        // A retry of a Submit that was accepted gets its job even at the limit, which that job may have reached.
        if (reserved.status === 'fulfilled') await store.releaseActiveSlot(caller.subject, jobId);
        const existing = await this.waitForJob(claim.jobId);
        if (existing && !sameSpec(existing.job, spec, this.context.config)) {
          throw new FaasError(
            ErrorCode.AlreadyExists,
            `idempotency key "${spec.idempotencyKey}" was already used for job ${existing.job.id} with a different spec; use a new key`,
          );
        }
        if (existing) {
          // Publish again in case the first Submit stored the job but failed
          // after that; de-duplication drops the copy otherwise.
          if (existing.job.state === JobState.JOB_STATE_QUEUED) await this.enqueue(existing.job, { revision: existing.revision });
          return { job: existing.job, existing: true };
        }
        // The first Submit stopped before storing its job: finish it here.
        jobId = claim.jobId;
        await store.reserveActiveSlot(caller.subject, jobId, config.maxActiveJobsPerOwner);
      }
    }

    const job = newJob(jobId, caller, spec);
    if (spec.input.length > 0) await this.context.blobs.putInput(jobId, spec.input);
    let stored: StoredJob;
    try {
      stored = await this.context.store.create(job);
    } catch (error) {
      const existing = await this.context.store.get(jobId);
      if (!existing) throw error;
      return { job: existing.job, existing: true };
    }
    // Logged before the publish, after which a worker may get the job at once. A job whose
    // publish fails is queued all the same: the orphan sweep publishes it again.
    this.context.log.info({ jobId, owner: caller.subject, repository: spec.repositoryUrl }, 'job queued');
    await this.enqueue(stored.job, { revision: stored.revision });
    this.context.metrics.jobSubmitted();
    return { job: stored.job, existing: false };
  }

  /** Submits each request of the batch side by side, as `submit` would on its own. */
  async submitBatch(request: SubmitBatchRequest, metadata: Metadata): Promise<SubmitBatchResponse> {
    validateBatchSize(request.requests.length);
    const entries = await submitEach(
      request.requests,
      (item) => this.submit(item, metadata),
      (error) => logFailure(this.context.log, 'SubmitBatch', error),
    );
    return { entries };
  }

  async status(request: StatusRequest, metadata: Metadata): Promise<StatusResponse> {
    const { job } = await this.getOwned(request.jobId, callerFromMetadata(metadata));
    return { job };
  }

  async result(request: ResultRequest, metadata: Metadata): Promise<ResultResponse> {
    const { job } = await this.getOwned(request.jobId, callerFromMetadata(metadata));
    if (!isFinal(job.state)) {
      throw new FaasError(
        ErrorCode.FailedPrecondition,
        `job ${job.id} is ${stateName(job.state)} and has no result yet; wait until it finishes (faas watch ${job.id})`,
      );
    }
    const result = job.attempt > 0 ? await this.context.blobs.getResult(job.id, job.attempt) : undefined;
    if (!result) {
      throw new FaasError(
        ErrorCode.FailedPrecondition,
        `job ${job.id} ${job.state === JobState.JOB_STATE_CANCELLED ? 'was cancelled' : `ended ${stateName(job.state)}`} before a worker ran it, so it has no result (${job.error?.message || 'no details'})`,
      );
    }
    return { job, result };
  }

  async list(request: ListRequest, metadata: Metadata): Promise<ListResponse> {
    const caller = callerFromMetadata(metadata);
    const pageSize = request.pageSize === 0 ? specLimits.listPageSizeDefault : request.pageSize;
    if (pageSize > specLimits.listPageSizeMax) {
      throw invalidArgument('page_size', `is ${pageSize}; use 1 to ${specLimits.listPageSizeMax}`);
    }
    if (request.pageToken !== '' && !isJobId(request.pageToken)) {
      throw invalidArgument('page_token', 'is not a token from a previous ListResponse; leave it empty for the first page');
    }
    validateStateFilter(request.state);
    const state = request.state === JobState.JOB_STATE_UNSPECIFIED ? undefined : request.state;

    const entries = await this.context.store.listIds({
      owner: caller.admin ? undefined : caller.subject,
      state,
      before: request.pageToken || undefined,
      limit: pageSize + 1,
    });
    const page = entries.slice(0, pageSize);
    // The reads go out together, so a page waits for about one round trip to NATS, not one per job.
    const records = await Promise.all(page.map((entry) => this.context.store.get(entry.jobId)));
    const jobs: Job[] = [];
    for (const [position, entry] of page.entries()) {
      const stored = records[position];
      if (entry.state === undefined) {
        // From the owner's active jobs: a reserved slot may have no record yet.
        if (!stored || (state !== undefined && stored.job.state !== state)) continue;
      } else if (!stored || stored.job.state !== entry.state) {
        await this.context.store.dropStaleIndex(entry);
        continue;
      }
      jobs.push(stored.job);
    }
    const nextPageToken = entries.length > pageSize ? entries[pageSize - 1].jobId : '';
    return { jobs, nextPageToken };
  }

  async watch(
    request: WatchRequest,
    metadata: Metadata,
    send: (message: WatchResponse) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    validateJobId(request.jobId);
    const records = this.context.records;
    if (records) {
      const caller = callerFromMetadata(metadata);
      // The record is read while ownership is checked; nothing is sent before the check passes.
      // The owner never changes, so a version this replica wrote settles the check without a read.
      // Half the retention leaves room for clocks that differ between replicas.
      const owner = this.context.store.rememberedOwner(request.jobId, this.context.config.retentionMs / 2);
      const owned = owner === undefined ? this.getOwned(request.jobId, caller) : checkOwner(request.jobId, owner, caller);
      let sent = false;
      const sendJob = (job: Job) => {
        sent = true;
        return send({ job });
      };
      await Promise.all([owned, records.follow({ jobId: request.jobId, send: sendJob, signal, ready: owned })]);
      // No version at all: the record was deleted since this replica wrote it, and a read reports it missing.
      if (!sent && !signal.aborted && owner !== undefined) await this.getOwned(request.jobId, caller);
      return;
    }
    // The watcher is set up while ownership is checked; nothing is sent before the check passes.
    const watching = this.context.nats.jobs.watch({ key: request.jobId, include: KvWatchInclude.AllHistory });
    // Handled below; this keeps a failure during the check from counting as unhandled.
    watching.catch(() => undefined);
    try {
      await this.getOwned(request.jobId, callerFromMetadata(metadata));
    } catch (error) {
      await watching.then((unused) => unused.stop()).catch(() => undefined);
      throw error;
    }
    const watcher = await watching;
    const stop = () => watcher.stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const entry of watcher) {
        if (entry.operation !== 'PUT') return;
        const job = Job.decode(entry.value);
        await send({ job });
        if (isFinal(job.state)) return;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      watcher.stop();
    }
  }

  async logs(
    request: LogsRequest,
    metadata: Metadata,
    send: (message: LogsResponse) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const { job } = await this.getOwned(request.jobId, callerFromMetadata(metadata));
    const { nats, store } = this.context;
    await readLogs(nats.js, nats.jsm, nats.names, {
      jobId: job.id,
      offset: request.offset,
      follow: request.follow,
      signal,
      send,
      isJobFinal: async () => {
        const current = await store.get(job.id);
        return !current || isFinal(current.job.state);
      },
    });
  }

  async cancel(request: CancelRequest, metadata: Metadata): Promise<CancelResponse> {
    const caller = callerFromMetadata(metadata);
    validateCancelReason(request.reason);
    await this.getOwned(request.jobId, caller);
    // The record names who cancelled, and why when the caller gave a reason.
    const by = `cancelled by ${caller.name ?? caller.subject}`;
    const reason = request.reason === '' ? by : `${by}: ${request.reason}`;
    const stored = await this.context.store.transition(request.jobId, (job) => {
      if (isFinal(job.state)) {
        throw new FaasError(
          ErrorCode.FailedPrecondition,
          `job ${job.id} already finished as ${stateName(job.state)}; only queued or running jobs can be cancelled`,
        );
      }
      if (job.state === JobState.JOB_STATE_QUEUED) {
        return endJob(job, JobState.JOB_STATE_CANCELLED, FailureReason.FAILURE_REASON_CANCELLED, reason);
      }
      return job.cancelRequested ? undefined : { ...job, cancelRequested: true };
    });
    if (stored.job.state === JobState.JOB_STATE_CANCELLED) {
      await closeLog(this.context.nats.js, this.context.nats.names, request.jobId);
    } else {
      this.publishCancel(request.jobId, reason);
    }
    this.context.log.info({ jobId: request.jobId, by: caller.subject, state: JobState[stored.job.state] }, 'cancel requested');
    return { job: stored.job };
  }

  private async getOwned(jobId: string, caller: Caller): Promise<StoredJob> {
    validateJobId(jobId);
    const stored = await this.context.store.get(jobId);
    if (!stored) throw notFound(jobId);
    await checkOwner(jobId, stored.job.owner, caller);
    return stored;
  }

  private async waitForJob(jobId: string): Promise<StoredJob | undefined> {
    const deadline = Date.now() + idempotencyWaitMs;
    for (;;) {
      const stored = await this.context.store.get(jobId);
      if (stored || Date.now() > deadline) return stored;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Publishes the job's queue message. The message id is the job's own by
   * default, so that de-duplication drops a copy; `messageId` overrides it.
   * With `revision`, the message carries the record as stored at that
   * revision, which the dispatcher uses instead of reading it on the first
   * delivery.
   */
  async enqueue(job: Job, options: { messageId?: string; revision?: number } = {}): Promise<void> {
    const { nats } = this.context;
    const key = job.spec!.idempotencyKey;
    const messageId = options.messageId;
    // With the record and its revision, the first delivery needs no read; a stale copy costs one failed write at acceptance.
    const stored = options.revision === undefined ? {} : { revision: options.revision, record: Buffer.from(Job.encode(job).finish()).toString('base64') };
    const body = JSON.stringify({ jobId: job.id, ...stored } satisfies QueuedJobMessage);
    const msgID = messageId ?? (key === '' ? job.id : idempotencyHash(job.owner, key));
    const subject = nats.names.jobSubject;
    // A job whose publish fails stays QUEUED with no queue message until its
    // client retries the Submit with the same key, or requeueOrphans finds it.
    await inSpan(
      `publish ${subject}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: messagingAttributes('send', subject, {
          'messaging.message.id': msgID,
          'messaging.message.body.size': body.length,
          [jobAttributes.jobId]: job.id,
        }),
      },
      async () => {
        // The queue message carries the trace, so the job's later spans join it.
        const headers = natsHeaders();
        injectHeaders(headers);
        await nats.js.publish(subject, body, { msgID, headers });
      },
    );
  }
}

/**
 * Tells whether a Submit requests the job that `job` already is. Both specs
 * are compared with the scheduler's defaults in place of zero values and
 * with the variables in name order. Inputs count only by size, because the
 * record does not contain the stored input.
 */
export function sameSpec(job: Job, spec: JobSpec, defaults: SpecDefaults): boolean {
  if (job.inputSizeBytes !== spec.input.length) return false;
  return canonicalSpec(job.spec!, defaults).equals(canonicalSpec(spec, defaults));
}

type SpecDefaults = Pick<SchedulerConfig, 'defaultTimeoutSeconds' | 'maxAttempts' | 'maxAttemptsLimit'>;

/** Encodes `spec` without its input, with defaults in place of zero values and the variables in name order. */
function canonicalSpec(spec: JobSpec, defaults: SpecDefaults): Buffer {
  const env = Object.fromEntries(Object.entries(spec.env).sort(([first], [second]) => first.localeCompare(second)));
  const retry = {
    maxAttempts: Math.min(spec.retry?.maxAttempts || defaults.maxAttempts, defaults.maxAttemptsLimit),
    retryFailedRuns: spec.retry?.retryFailedRuns ?? false,
  };
  const canonical = {
    ...spec,
    input: Buffer.alloc(0),
    env,
    timeoutSeconds: spec.timeoutSeconds || defaults.defaultTimeoutSeconds,
    limits: JobLimits.fromPartial(spec.limits ?? {}),
    retry,
  };
  return Buffer.from(JobSpec.encode(canonical).finish());
}

function newJob(id: string, owner: Caller, spec: JobSpec): Job {
  const now = new Date();
  return Job.fromPartial({
    id,
    owner: owner.subject,
    ownerName: owner.name ?? owner.subject,
    spec: { ...spec, input: Buffer.alloc(0) },
    state: JobState.JOB_STATE_QUEUED,
    createdAt: now,
    updatedAt: now,
    inputSizeBytes: spec.input.length,
  });
}

/** Rejects unless `caller` may see the jobs of `owner`. Another owner's job looks exactly like a missing one, so ids reveal nothing. */
async function checkOwner(jobId: string, owner: string, caller: Caller): Promise<void> {
  if (!caller.admin && owner !== caller.subject) throw notFound(jobId);
}

function notFound(jobId: string): FaasError {
  return new FaasError(ErrorCode.NotFound, `job ${jobId} not found`);
}
