/**
 * A refusal with the SDK's status code (400 malformed, 401 not verified,
 * 403 blacklisted, 404 unknown synapse, 408 timeout, 503 overloaded). A
 * forward function throws one to answer with that code instead of a 500.
 */
export class AxonError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AxonError';
  }
}
