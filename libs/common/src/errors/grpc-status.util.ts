import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { AppError, ErrorCode } from './app-error';

/**
 * Trailer carrying an AppError's `reason` (e.g. `context_length_exceeded`) and `param`, so a
 * caller can tell the user exactly what was wrong; gRPC status details are free text only.
 */
export const GRPC_ERROR_REASON_TRAILER = 'chattensor-error-reason';
export const GRPC_ERROR_PARAM_TRAILER = 'chattensor-error-param';

/** The one place where domain error codes become gRPC status codes. */
export function grpcStatusOf(code: ErrorCode): GrpcStatus {
  switch (code) {
    case ErrorCode.InvalidRequest:
    case ErrorCode.PayloadTooLarge:
      return GrpcStatus.INVALID_ARGUMENT;
    case ErrorCode.Unauthenticated:
      return GrpcStatus.UNAUTHENTICATED;
    case ErrorCode.PermissionDenied:
      return GrpcStatus.PERMISSION_DENIED;
    case ErrorCode.NotFound:
      return GrpcStatus.NOT_FOUND;
    case ErrorCode.RateLimited:
    case ErrorCode.Overloaded:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case ErrorCode.Unavailable:
      return GrpcStatus.UNAVAILABLE;
    case ErrorCode.Timeout:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case ErrorCode.Cancelled:
      return GrpcStatus.CANCELLED;
    case ErrorCode.Internal:
      return GrpcStatus.INTERNAL;
  }
}

/** Reverse mapping, for clients that turn a failed call back into a domain error. */
export function appErrorFromGrpc(error: Partial<ServiceError>): AppError {
  const message = error.details || error.message || 'gRPC call failed';
  switch (error.code) {
    case GrpcStatus.INVALID_ARGUMENT: {
      const trailer = (key: string) => {
        const value = error.metadata?.get(key)[0];
        return value === undefined ? undefined : value.toString();
      };
      return new AppError(ErrorCode.InvalidRequest, message, {
        reason: trailer(GRPC_ERROR_REASON_TRAILER),
        param: trailer(GRPC_ERROR_PARAM_TRAILER),
      });
    }
    case GrpcStatus.UNAUTHENTICATED:
      return new AppError(ErrorCode.Unauthenticated, message);
    case GrpcStatus.PERMISSION_DENIED:
      return new AppError(ErrorCode.PermissionDenied, message);
    case GrpcStatus.NOT_FOUND:
      return new AppError(ErrorCode.NotFound, message);
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return new AppError(ErrorCode.Overloaded, message);
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new AppError(ErrorCode.Timeout, message);
    case GrpcStatus.CANCELLED:
      return new AppError(ErrorCode.Cancelled, message);
    case GrpcStatus.UNAVAILABLE:
      return new AppError(ErrorCode.Unavailable, message);
    default:
      return new AppError(ErrorCode.Internal, message);
  }
}

/** A grpc-js ServiceError-shaped object for `call.destroy()` / `callback()`. */
export function toGrpcError(error: unknown): Partial<ServiceError> {
  if (error instanceof AppError) {
    const grpcError: Partial<ServiceError> = { code: grpcStatusOf(error.code), details: error.message, message: error.message };
    if (error.reason || error.param) {
      const metadata = new Metadata();
      if (error.reason) metadata.set(GRPC_ERROR_REASON_TRAILER, error.reason);
      if (error.param) metadata.set(GRPC_ERROR_PARAM_TRAILER, error.param);
      grpcError.metadata = metadata;
    }
    return grpcError;
  }
  return { code: GrpcStatus.INTERNAL, details: 'internal error', message: 'internal error' };
}
