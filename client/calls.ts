import {
  status as GrpcStatus,
  type CallOptions as GrpcCallOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  type Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { FaasClientError } from './errors.js';
import { backoffDelayMs, sleep, type BackoffOptions } from './retry.js';

/** Settings shared by every call of one client. */
export interface CallSettings {
  /** Deadline of a unary call in milliseconds, covering all its attempts. */
  deadlineMs: number;
  /** Retries of a unary call after UNAVAILABLE, counted as FaasClientOptions.retries describes. */
  retries: number;
  /** Reopenings of a stream in a row without progress (FaasClientOptions.streamRetries). */
  streamRetries: number;
  backoff: BackoffOptions;
  /**
   * Creates the request metadata of one call, such as the authorization
   * header. A rejection fails the call with that error, without a retry.
   */
  metadata: () => Promise<Metadata>;
}

/** A generated unary method in its (request, metadata, options, callback) form. */
export type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: Partial<GrpcCallOptions>,
  callback: (error: ServiceError | null, response: Response) => void,
) => ClientUnaryCall;

/** Opens a server stream with the given request metadata. */
export type OpenStream<Message> = (metadata: Metadata) => ClientReadableStream<Message>;

function isUnavailable(error: unknown): boolean {
  return error instanceof FaasClientError && error.code === GrpcStatus.UNAVAILABLE;
}

/**
 * Sends a unary call and retries it after UNAVAILABLE with backoff, until
 * `settings.retries` is used up or the next attempt would start past the
 * deadline. One deadline, `settings.deadlineMs` from now, covers all attempts.
 */
export async function callUnary<Request, Response>(
  settings: CallSettings,
  method: UnaryMethod<Request, Response>,
  request: Request,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const deadline = new Date(Date.now() + settings.deadlineMs);

  for (let retry = 0; ; retry++) {
    try {
      return await callUnaryOnce(settings, method, request, deadline, signal);
    } catch (error) {
      if (!isUnavailable(error) || retry >= settings.retries) throw error;

      const delayMs = backoffDelayMs(retry, settings.backoff);
      if (Date.now() + delayMs >= deadline.getTime()) throw error;
      await sleep(delayMs, signal);
    }
  }
}

async function callUnaryOnce<Request, Response>(
  settings: CallSettings,
  method: UnaryMethod<Request, Response>,
  request: Request,
  deadline: Date,
  signal: AbortSignal | undefined,
): Promise<Response> {
  signal?.throwIfAborted();
  const metadataStartedMs = Date.now();
  const metadata = await settings.metadata();
  const now = Date.now();
  if (now >= deadline.getTime()) {
    // grpc-js would report only the moment it gave up, such as "after 0.002s".
    throw new FaasClientError(
      GrpcStatus.DEADLINE_EXCEEDED,
      `the call's deadline of ${settings.deadlineMs} ms passed before it was sent, while the token function ran for ${now - metadataStartedMs} ms; ` +
        'return a cached token from it, or raise deadlineMs',
    );
  }

  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }

    const onAbort = (): void => call.cancel();
    const call = method(request, metadata, { deadline }, (error, response) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason);
      else if (error) reject(FaasClientError.from(error));
      else resolve(response);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Yields what `accept` returns for each message of a server stream, skipping
 * undefined, and reopens the stream after UNAVAILABLE. `open` is called again
 * for each reconnect, so it can pick up state that `accept` updated.
 */
export async function* readResumable<Message, Item>(
  settings: CallSettings,
  open: OpenStream<Message>,
  accept: (message: Message) => Item | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<Item> {
  // Counts reconnects since the last new item, so a stream that keeps making
  // progress is never given up. One that makes none ends after `streamRetries`,
  // or after `retries` if it never delivered anything, so a wrong address
  // fails as fast as a unary call.
  let failuresInARow = 0;
  let delivered = false;

  for (;;) {
    try {
      for await (const message of readStream(settings, open, signal)) {
        const item = accept(message);
        if (item === undefined) continue;
        failuresInARow = 0;
        delivered = true;
        yield item;
      }
      return;
    } catch (error) {
      const limit = delivered ? settings.streamRetries : settings.retries;
      if (!isUnavailable(error) || failuresInARow >= limit) throw error;
      await sleep(backoffDelayMs(failuresInARow, settings.backoff), signal);
      failuresInARow++;
    }
  }
}

/** Yields the messages of one server stream and cancels the call when the reader stops early. */
async function* readStream<Message>(
  settings: CallSettings,
  open: OpenStream<Message>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Message> {
  signal?.throwIfAborted();
  const metadata = await settings.metadata();
  signal?.throwIfAborted();
  const call = open(metadata);
  const onAbort = (): void => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });

  try {
    for await (const message of call) yield message as Message;
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw FaasClientError.from(error);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // Does nothing when the call has already ended.
    call.cancel();
  }
}
