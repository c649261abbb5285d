import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { AppError, ErrorCode } from './app-error';

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
    case GrpcStatus.INVALID_ARGUMENT:
      return new AppError(ErrorCode.InvalidRequest, message);
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
    return { code: grpcStatusOf(error.code), details: error.message, message: error.message };
  }
  return { code: GrpcStatus.INTERNAL, details: 'internal error', message: 'internal error' };
}
