import { status as GrpcStatus } from '@grpc/grpc-js';
import { jobLimitFields, maxUint32, specLimits } from '../common/limits.js';
import type { JobSpec } from '../gen/faas/v1/job.js';
import { FaasClientError } from './errors.js';

/**
 * Throws INVALID_ARGUMENT, naming the field, for a number that protobuf
 * cannot encode in its field, and for input over the gateway's limit. Without
 * this check, grpc-js would fail to serialize such a request and report
 * INTERNAL, as if the server were at fault.
 */
export function checkSpec(spec: JobSpec): void {
  checkWhole('spec.timeout_seconds', spec.timeoutSeconds, maxUint32);
  if (spec.retry) checkWhole('spec.retry.max_attempts', spec.retry.maxAttempts, maxUint32);
  if (spec.limits) {
    for (const [key, name] of jobLimitFields) {
      checkWhole(`spec.limits.${name}`, spec.limits[key], name.endsWith('_bytes') ? Number.MAX_SAFE_INTEGER : maxUint32);
    }
  }
  if (spec.input.length > specLimits.inputBytes) {
    throw invalid(`spec.input: is ${spec.input.length} bytes; the limit is ${specLimits.inputBytes} bytes (1 MiB)`);
  }
}

/** Throws INVALID_ARGUMENT unless `page_size` of List is a whole number that protobuf can carry. */
export function checkPageSize(pageSize: number): void {
  checkWhole('page_size', pageSize, maxUint32);
}

/** Throws INVALID_ARGUMENT unless `limit` of ListScaleEvents is a whole number that protobuf can carry. */
export function checkEventLimit(limit: number): void {
  checkWhole('limit', limit, maxUint32);
}

/** Throws INVALID_ARGUMENT unless a byte offset of Logs is a whole number from 0. */
export function checkOffset(offset: number): void {
  checkWhole('offset', offset, Number.MAX_SAFE_INTEGER);
}

function checkWhole(field: string, value: number, maximum: number): void {
  if (!Number.isInteger(value) || value < 0 || value > maximum) {
    throw invalid(`${field}: is ${value}; use a whole number from 0 to ${maximum}, or 0 for the default`);
  }
}

function invalid(message: string): FaasClientError {
  return new FaasClientError(GrpcStatus.INVALID_ARGUMENT, message);
}
