import { status } from '@grpc/grpc-js';
import { AppError, ERROR_CODES, ErrorCode } from './app-error';
import { appErrorFromGrpc, grpcStatusOf, toGrpcError } from './grpc-status.util';

describe('gRPC status mapping', () => {
  it('maps every domain code and comes back to a compatible one', () => {
    for (const code of ERROR_CODES) {
      const back = appErrorFromGrpc({ code: grpcStatusOf(code), details: 'x' }).code;
      expect(grpcStatusOf(back)).toBe(grpcStatusOf(code));
    }
  });

  it('answers UNAUTHENTICATED for an authentication failure and RESOURCE_EXHAUSTED when overloaded', () => {
    expect(toGrpcError(new AppError(ErrorCode.Unauthenticated, 'bad signature'))).toMatchObject({ code: status.UNAUTHENTICATED, details: 'bad signature' });
    expect(toGrpcError(new AppError(ErrorCode.Overloaded, 'full')).code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('carries the reason and parameter of an invalid request in trailers, back to the caller', () => {
    const sent = toGrpcError(
      new AppError(ErrorCode.InvalidRequest, 'prompt too long', { reason: 'context_length_exceeded', param: 'messages' }),
    );
    expect(sent.code).toBe(status.INVALID_ARGUMENT);
    const back = appErrorFromGrpc(sent);
    expect(back).toMatchObject({ code: ErrorCode.InvalidRequest, reason: 'context_length_exceeded', param: 'messages', message: 'prompt too long' });
  });

  it('never leaks the message of an unexpected error', () => {
    expect(toGrpcError(new Error('secret internals'))).toEqual({ code: status.INTERNAL, details: 'internal error', message: 'internal error' });
  });
});
