/**
 * Domain error codes shared by every service. Each transport maps them exactly
 * once: HTTP in the gateway's exception filter, gRPC in `grpcStatusOf`, NATS in
 * the chat stream's error frame.
 */
export enum ErrorCode {
  InvalidRequest = 'invalid_request',
  Unauthenticated = 'unauthenticated',
  PermissionDenied = 'permission_denied',
  NotFound = 'not_found',
  PayloadTooLarge = 'payload_too_large',
  RateLimited = 'rate_limited',
  Overloaded = 'overloaded',
  Unavailable = 'unavailable',
  Timeout = 'timeout',
  Cancelled = 'cancelled',
  Internal = 'internal',
}

export const ERROR_CODES: readonly ErrorCode[] = Object.values(ErrorCode);

export interface AppErrorOptions {
  /** Name of the offending parameter, when one is to blame. */
  param?: string;
  /** Seconds after which a retry may succeed (rate limits, overload). */
  retryAfterSeconds?: number;
  /** A finer machine-readable reason (e.g. `model_not_found`), reported as the API's error code. */
  reason?: string;
  cause?: unknown;
}

export class AppError extends Error {
  readonly param?: string;
  readonly retryAfterSeconds?: number;
  readonly reason?: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.param = options.param;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.reason = options.reason;
  }

  static is(error: unknown, code?: ErrorCode): error is AppError {
    return error instanceof AppError && (code === undefined || error.code === code);
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
