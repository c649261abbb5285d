/** The model folder is missing a file or uses something this runtime does not support; the message names it. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

/** The engine's waiting queue is full; callers should shed or retry the request elsewhere. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

/** A request the engine cannot serve as asked (e.g. a prompt longer than the context window). */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';

  /** A machine-readable reason where one applies, e.g. `context_length_exceeded` (OpenAI's code for it). */
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}
