import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

/** The closed set of error codes; each maps to one gRPC status code. */
export const ErrorCode = {
  InvalidArgument: 'invalid_argument',
  NotFound: 'not_found',
  AlreadyExists: 'already_exists',
  PermissionDenied: 'permission_denied',
  Unauthenticated: 'unauthenticated',
  ResourceExhausted: 'resource_exhausted',
  FailedPrecondition: 'failed_precondition',
  Unavailable: 'unavailable',
  DeadlineExceeded: 'deadline_exceeded',
  Cancelled: 'cancelled',
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const toGrpc: Record<ErrorCode, GrpcStatus> = {
  invalid_argument: GrpcStatus.INVALID_ARGUMENT,
  not_found: GrpcStatus.NOT_FOUND,
  already_exists: GrpcStatus.ALREADY_EXISTS,
  permission_denied: GrpcStatus.PERMISSION_DENIED,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  resource_exhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  failed_precondition: GrpcStatus.FAILED_PRECONDITION,
  unavailable: GrpcStatus.UNAVAILABLE,
  deadline_exceeded: GrpcStatus.DEADLINE_EXCEEDED,
  cancelled: GrpcStatus.CANCELLED,
  internal: GrpcStatus.INTERNAL,
};

const fromGrpc = new Map<number, ErrorCode>(
  Object.entries(toGrpc).map(([code, grpc]) => [grpc, code as ErrorCode]),
);

/**
 * Error with a code that maps to a gRPC status. The message is safe to send
 * to callers; `cause` stays in the logs and never goes on the wire.
 */
export class FaasError extends Error {
  override readonly name = 'FaasError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get grpcStatus(): GrpcStatus {
    return toGrpc[this.code];
  }

  /** Converts anything thrown into a FaasError, keeping the original as cause. */
  static from(error: unknown): FaasError {
    if (error instanceof FaasError) return error;
    if (isServiceError(error)) {
      const code = fromGrpc.get(error.code) ?? ErrorCode.Internal;
      // Transport failures carry grpc-js's own text, with internal addresses
      // in it; the other codes come from our services with safe messages.
      if (code === ErrorCode.Unavailable) {
        return new FaasError(code, 'a platform service is unavailable; retry shortly', { cause: error });
      }
      if (code === ErrorCode.Internal) return new FaasError(code, 'internal error', { cause: error });
      if (code === ErrorCode.DeadlineExceeded) {
        return new FaasError(code, 'a platform service did not respond in time; retry shortly', { cause: error });
      }
      return new FaasError(code, error.details || error.message, { cause: error });
    }
    if (isNatsConnectionError(error)) {
      return new FaasError(ErrorCode.Unavailable, 'the job queue is unavailable; retry shortly', {
        cause: error,
      });
    }
    return new FaasError(ErrorCode.Internal, 'internal error', { cause: error });
  }

  /** Returns the object grpc-js sends as a call's final status. */
  toStatus(): Partial<ServiceError> {
    return { code: this.grpcStatus, details: this.message, message: this.message };
  }
}

/** Returns the message of anything thrown: an Error's message, or the value as a string. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function invalidArgument(field: string, problem: string): FaasError {
  return new FaasError(ErrorCode.InvalidArgument, `${field}: ${problem}`);
}

export function isServiceError(error: unknown): error is ServiceError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ServiceError>).code === 'number' &&
    'metadata' in error
  );
}

const natsUnavailableNames = new Set([
  'ConnectionError',
  'ClosedConnectionError',
  'NoRespondersError',
  'TimeoutError',
  'RequestError',
  'DrainingConnectionError',
]);

// The NATS client marks transport failures with error classes, not codes.
function isNatsConnectionError(error: unknown): boolean {
  return hasCause(error, (cause) => natsUnavailableNames.has(cause.constructor.name) || natsUnavailableNames.has(cause.name));
}

/** Tells whether `error`, or one of the first errors in its chain of causes, passes `test`. */
export function hasCause(error: unknown, test: (cause: Error) => boolean): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    if (test(current)) return true;
    current = current.cause;
  }
  return false;
}
