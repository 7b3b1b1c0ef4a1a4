import { status as GrpcStatus, type Metadata } from '@grpc/grpc-js';
import { errorMessage, isServiceError } from '../common/errors.js';

/** Name of a gRPC status code, such as "NOT_FOUND". */
export type StatusCodeName = keyof typeof GrpcStatus;

/** Returns the name of a gRPC status code, or "UNKNOWN" for a number outside the standard set. */
export function statusCodeName(code: number): StatusCodeName {
  const name = (GrpcStatus as unknown as Record<number, string | undefined>)[code];
  return name === undefined ? 'UNKNOWN' : (name as StatusCodeName);
}

/**
 * Error of a FaasClient call. `message` is the server's message (the gRPC
 * status details) and `codeName` the status code, so callers can print
 * `NOT_FOUND: job ... not found` and branch on `code` without parsing text.
 */
export class FaasClientError extends Error {
  override readonly name = 'FaasClientError';
  /** gRPC status code of the failed call. */
  readonly code: GrpcStatus;
  /** Trailing metadata the server sent with the status, when there was a call. */
  readonly metadata: Metadata | undefined;

  constructor(code: GrpcStatus, message: string, options?: { cause?: unknown; metadata?: Metadata }) {
    super(message, { cause: options?.cause });
    this.code = code;
    this.metadata = options?.metadata;
  }

  /** Name of `code`, such as "NOT_FOUND" or "UNAVAILABLE". */
  get codeName(): StatusCodeName {
    return statusCodeName(this.code);
  }

  /**
   * Converts anything a call throws into a FaasClientError. A gRPC status
   * keeps its code and details, and any other error becomes UNKNOWN with its
   * message. The original stays as `cause`.
   */
  static from(error: unknown): FaasClientError {
    if (error instanceof FaasClientError) return error;
    if (isServiceError(error)) {
      return new FaasClientError(error.code, error.details || error.message, {
        cause: error,
        metadata: error.metadata,
      });
    }
    const message = errorMessage(error);
    return new FaasClientError(GrpcStatus.UNKNOWN, message, { cause: error });
  }
}
