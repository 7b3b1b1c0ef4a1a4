import { status as GrpcStatus } from '@grpc/grpc-js';
import { SubmitRequest, type SubmitBatchResponse, type SubmitResponse } from '../gen/faas/v1/job_service.js';
import { submitBatchMaxRequests } from '../common/submit-batch.js';
import { FaasClientError } from './errors.js';

/** Largest encoded batch the batcher sends, half of the 8 MiB message limit of the gateway. */
export const maxBatchBytes = 4 * 1024 * 1024;

/** Calls that reach the gateway, each with its own retries after UNAVAILABLE. */
export interface SubmitSender {
  single(request: SubmitRequest, signal: AbortSignal | undefined): Promise<SubmitResponse>;
  batch(requests: SubmitRequest[]): Promise<SubmitBatchResponse>;
}

interface Waiting {
  request: SubmitRequest;
  bytes: number;
  signal: AbortSignal | undefined;
  resolve(response: SubmitResponse): void;
  reject(error: unknown): void;
}

/**
 * Gathers the Submits made in one turn of the event loop and sends them as
 * SubmitBatch calls of up to 100 requests and 4 MiB. A call that is alone
 * goes as a plain Submit. Callers with many jobs in flight thus share each call's
 * cost, and the replies of one batch release the callers together, so their
 * next Submits gather again.
 *
 * Each caller gets what Submit would have returned: its job, or a
 * FaasClientError with the status Submit would have had. A request that
 * failed with UNAVAILABLE alone, say while its job was being queued, is sent
 * again on its own with the same idempotency key. A gateway without
 * SubmitBatch (UNIMPLEMENTED) gets plain Submits from then on. An aborted
 * signal rejects its caller at once. When its batch was already sent, the
 * job may still be queued, as with an aborted Submit.
 */
export class SubmitBatcher {
  private waiting: Waiting[] = [];
  private flushScheduled = false;
  private batchesUnsupported = false;

  constructor(private readonly sender: SubmitSender) {}

  submit(request: SubmitRequest, signal: AbortSignal | undefined): Promise<SubmitResponse> {
    if (this.batchesUnsupported) return this.sender.single(request, signal);
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const waiting: Waiting = { request, bytes: SubmitRequest.encode(request).finish().length, signal, resolve, reject };
      if (signal) {
        const onAbort = (): void => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        const settle = (): void => signal.removeEventListener('abort', onAbort);
        waiting.resolve = (response) => {
          settle();
          resolve(response);
        };
        waiting.reject = (error) => {
          settle();
          reject(error);
        };
      }
      this.waiting.push(waiting);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    // A caller whose signal aborted meanwhile has its rejection already.
    const waiting = this.waiting.filter((item) => !item.signal?.aborted);
    this.waiting = [];
    let batch: Waiting[] = [];
    let bytes = 0;
    for (const item of waiting) {
      if (batch.length === submitBatchMaxRequests || (batch.length > 0 && bytes + item.bytes > maxBatchBytes)) {
        this.send(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(item);
      bytes += item.bytes;
    }
    if (batch.length > 0) this.send(batch);
  }

  private send(batch: Waiting[]): void {
    if (batch.length === 1) {
      this.sendAlone(batch[0]);
      return;
    }
    this.sender.batch(batch.map((item) => item.request)).then(
      (response) => this.settle(batch, response),
      (error: unknown) => {
        if (error instanceof FaasClientError && error.code === GrpcStatus.UNIMPLEMENTED) {
          this.batchesUnsupported = true;
          for (const item of batch) this.sendAlone(item);
          return;
        }
        for (const item of batch) item.reject(error);
      },
    );
  }

  private settle(batch: Waiting[], response: SubmitBatchResponse): void {
    batch.forEach((item, index) => {
      const entry = response.entries[index];
      if (entry?.submitted) {
        item.resolve(entry.submitted);
      } else if (entry?.error?.code === GrpcStatus.UNAVAILABLE) {
        this.sendAlone(item);
      } else if (entry?.error) {
        item.reject(new FaasClientError(entry.error.code, entry.error.message));
      } else {
        item.reject(new FaasClientError(GrpcStatus.INTERNAL, `the gateway returned ${response.entries.length} entries for ${batch.length} requests; expected one per request`));
      }
    });
  }

  private sendAlone(item: Waiting): void {
    if (item.signal?.aborted) return;
    this.sender.single(item.request, item.signal).then(item.resolve, item.reject);
  }
}
