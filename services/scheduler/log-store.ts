import { headers } from '@nats-io/transport-node';
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { LogsResponse } from '../../gen/faas/v1/job_service.js';
import type { LogStream } from '../../gen/faas/v1/job.js';
import { ErrorCode, FaasError, hasCause } from '../../common/errors.js';
import type { NatsNames } from '../../common/nats-names.js';
import { retryWhileUnavailable, type OutageRetry } from './nats-link.js';

/** Header on the message that closes a job's log once the job is final. */
const endHeader = 'Faas-Log-End';
/** Header on each chunk: bytes of the same attempt's output before it. A replica that takes the job over resumes from there. */
const attemptOffsetHeader = 'Faas-Attempt-Offset';
/** Messages fetched per pull while replaying; each holds up to `maxChunkBytes`. */
const replayBatch = 64;
/** Largest chunk stored as one message, well under NATS's default 1 MiB max payload. */
const maxChunkBytes = 128 * 1024;

/**
 * Appends a job's output to its log subject, one message per chunk, each
 * stamped with its byte offset in the job's combined output. Appends are
 * serialised, so offsets follow the order the worker sent the bytes. While
 * NATS is away, a chunk is retried until it is stored. The appends after it
 * wait, so the worker's stream slows down. Each chunk's message id (job and
 * offset) lets JetStream drop a second copy when an acknowledgement was lost.
 */
export class LogWriter {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly subject: string,
    private readonly jobId: string,
    private nextOffset: number,
    private nextAttemptOffset: number,
    private readonly outage: OutageRetry,
  ) {}

  /**
   * Opens the writer after the output earlier attempts already stored. With
   * `resume`, the attempt ran under another replica or stream until now, and
   * the writer continues after what that one stored of it.
   */
  static async open(
    js: JetStreamClient,
    jsm: JetStreamManager,
    names: NatsNames,
    jobId: string,
    attempt: number,
    outage: OutageRetry,
    resume = false,
  ): Promise<LogWriter> {
    const subject = names.logSubject(jobId);
    // Only one first attempt ever starts, so its log is empty; a later attempt continues the earlier ones' output.
    const last = attempt > 1 || resume ? await lastChunk(jsm, names, jobId) : undefined;
    const nextOffset = last ? Number(last.chunk.offset) + last.chunk.data.length : 0;
    const nextAttemptOffset = resume && last?.chunk.attempt === attempt ? last.attemptOffset + last.chunk.data.length : 0;
    return new LogWriter(js, subject, jobId, nextOffset, nextAttemptOffset, outage);
  }

  get offset(): number {
    return this.nextOffset;
  }

  /** Bytes of this attempt's output that the writer has taken, stored or on their way. */
  get attemptOffset(): number {
    return this.nextAttemptOffset;
  }

  append(attempt: number, stream: LogStream, data: Buffer): Promise<void> {
    for (let start = 0; start < data.length; start += maxChunkBytes) {
      const piece = data.subarray(start, start + maxChunkBytes);
      const offset = this.nextOffset;
      const chunk = LogsResponse.encode({ offset, stream, attempt, data: piece }).finish();
      const chunkHeaders = headers();
      chunkHeaders.set(attemptOffsetHeader, String(this.nextAttemptOffset));
      this.nextOffset += piece.length;
      this.nextAttemptOffset += piece.length;
      // NOTE: JetStream drops a copy only within the log stream's duplicate window (2 minutes unless set), so a
      // chunk whose acknowledgement was lost at the start of a longer outage may be stored twice.
      const publish = async () => {
        await this.js.publish(this.subject, chunk, { msgID: `${this.jobId}:${offset}`, headers: chunkHeaders });
      };
      this.tail = this.tail.then(async () => {
        if (this.failure) return;
        try {
          await retryWhileUnavailable(publish, this.outage);
        } catch (error) {
          this.failure = error;
        }
      });
    }
    return this.tail;
  }

  /** Waits for every append so far; throws the first publish failure. */
  async flush(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.failure;
  }
}

/** Publishes the marker that signals followers that the job's output is complete. */
export async function closeLog(js: JetStreamClient, names: NatsNames, jobId: string): Promise<void> {
  const marker = headers();
  marker.set(endHeader, 'true');
  await js.publish(names.logSubject(jobId), new Uint8Array(), { headers: marker });
}

/** Returns the job's last stored chunk, with the attempt offset its header gives (0 when it has none). */
async function lastChunk(jsm: JetStreamManager, names: NatsNames, jobId: string) {
  const subject = names.logSubject(jobId);
  let stored = await jsm.streams.getMessage(names.logStream, { last_by_subj: subject }).catch(() => null);
  if (stored?.header?.get(endHeader) === 'true') {
    // The marker contains no bytes, so the chunk before it ends the output.
    const before = await jsm.streams.getMessage(names.logStream, { seq: stored.seq - 1 }).catch(() => null);
    stored = before?.subject === subject ? before : null;
  }
  if (!stored) return undefined;
  return { chunk: LogsResponse.decode(stored.data), attemptOffset: Number(stored.header?.get(attemptOffsetHeader) || 0) };
}

export interface ReadLogsOptions {
  jobId: string;
  offset: number;
  follow: boolean;
  signal: AbortSignal;
  /** Tells whether the job has reached a final state. */
  isJobFinal: () => Promise<boolean>;
  send: (chunk: LogsResponse) => Promise<void>;
}

/**
 * Streams a job's output from a byte offset with an ordered consumer on the
 * job's log subject, fetching in small batches so memory stays bounded.
 * Without `follow` it stops at the output stored when it started; with it,
 * it stops at the end marker, or when the job is final and nothing is left.
 */
export async function readLogs(
  js: JetStreamClient,
  jsm: JetStreamManager,
  names: NatsNames,
  options: ReadLogsOptions,
): Promise<void> {
  const subject = names.logSubject(options.jobId);
  const lastStored = await jsm.streams.getMessage(names.logStream, { last_by_subj: subject }).catch(() => null);
  if (!options.follow && !lastStored) return;
  const stopAtSeq = options.follow ? Infinity : lastStored!.seq;

  const consumer = await js.consumers.get(names.logStream, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.All,
  });
  let lastSeq = 0;
  try {
    await followConsumer();
  } catch (error) {
    // A restarted nats-server has forgotten the ordered consumer. The client
    // reopens the stream after UNAVAILABLE, from the offset it has reached.
    if (!options.signal.aborted && isLostConsumer(error)) {
      throw new FaasError(ErrorCode.Unavailable, 'the job queue restarted during the stream; reopen it to resume from the last offset', { cause: error });
    }
    throw error;
  } finally {
    await consumer.delete().catch(() => undefined);
  }

  async function followConsumer(): Promise<void> {
    while (!options.signal.aborted) {
      const batch = await consumer.fetch({ max_messages: replayBatch, expires: options.follow ? 2_000 : 1_000 });
      let received = 0;
      for await (const message of batch) {
        received++;
        lastSeq = message.seq;
        if (message.headers?.get(endHeader) === 'true') return;
        const chunk = LogsResponse.decode(message.data);
        const end = chunk.offset + chunk.data.length;
        if (end > options.offset) {
          const skip = Math.max(0, options.offset - chunk.offset);
          await options.send({ ...chunk, offset: chunk.offset + skip, data: chunk.data.subarray(skip) });
        }
        if (message.seq >= stopAtSeq) return;
      }
      if (received === 0 && options.follow && (await options.isJobFinal())) {
        // The job ended without a marker (a replica stopped before writing
        // it): stop once nothing newer than what was sent is stored.
        const latest = await jsm.streams.getMessage(names.logStream, { last_by_subj: subject }).catch(() => null);
        if (!latest || latest.seq <= lastSeq) return;
      }
    }
  }
}

function isLostConsumer(error: unknown): boolean {
  // nats.js does not export its error classes, so the class name and the server's message identify the error.
  return hasCause(error, (cause) => cause.constructor.name === 'ConsumerNotFoundError' || cause.message === 'consumer not found');
}
