import { metrics, type Counter } from '@opentelemetry/api';
import type { SubmitBatchEntry, SubmitError, SubmitRequest, SubmitResponse } from '../gen/faas/v1/job_service.js';
import { FaasError, invalidArgument } from './errors.js';

/** Maximum number of requests in one SubmitBatch call. */
export const submitBatchMaxRequests = 100;

/** Throws INVALID_ARGUMENT for an empty batch or one over `submitBatchMaxRequests`. */
export function validateBatchSize(count: number): void {
  if (count === 0) throw invalidArgument('requests', `is empty; send 1 to ${submitBatchMaxRequests} requests`);
  if (count > submitBatchMaxRequests) {
    throw invalidArgument('requests', `has ${count} requests; send at most ${submitBatchMaxRequests} per call and split the rest into more calls`);
  }
}

/** Returns the entry of a rejected request: the status and message that Submit would have returned. */
export function rejectedEntry(failure: FaasError): SubmitBatchEntry & { error: SubmitError } {
  return { error: { code: failure.grpcStatus, message: failure.message } };
}

/**
 * Submits each request side by side and returns one entry per request, in
 * order. `onRejected` is called with each error before it becomes an entry, to log it.
 */
export async function submitEach(
  requests: SubmitRequest[],
  submit: (request: SubmitRequest) => Promise<SubmitResponse>,
  onRejected: (error: FaasError) => void,
): Promise<SubmitBatchEntry[]> {
  const settled = await Promise.allSettled(requests.map((request) => submit(request)));
  return settled.map((outcome) => {
    if (outcome.status === 'fulfilled') return { submitted: outcome.value };
    const failure = FaasError.from(outcome.reason);
    onRejected(failure);
    return rejectedEntry(failure);
  });
}

let entriesCounter: Counter | undefined;

/** Counts the entries of a SubmitBatch response in `faas.submit_batch.entries`, by status code (0 for an accepted request). */
export function countEntries(entries: SubmitBatchEntry[]): void {
  // Made on first use, once the process's telemetry has started.
  entriesCounter ??= metrics.getMeter('faas').createCounter('faas.submit_batch.entries', {
    description: 'Requests of SubmitBatch calls, by the status code of their entry',
  });
  const byCode = new Map<number, number>();
  for (const entry of entries) {
    const code = entry.error?.code ?? 0;
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
  }
  for (const [code, count] of byCode) entriesCounter.add(count, { 'rpc.grpc.status_code': code });
}
