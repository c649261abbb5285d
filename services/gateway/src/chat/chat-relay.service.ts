import { Inject, Injectable } from '@nestjs/common';
import { createInbox, headers as natsHeaders, type Msg } from 'nats';
import { AppError, CORRELATION_HEADER, ErrorCode, NatsService, isErrorCode } from '@chattensor/common';
import {
  Subjects,
  chatFrameSchema,
  decodeJson,
  encodeJson,
  type ChatFrame,
  type ChatJob,
} from '@chattensor/protocol';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';

export type AnswerFrame = Exclude<ChatFrame, { type: 'accepted' | 'queued' | 'error' }>;

export interface RelayedJob {
  /** Hotkey of the validator that took the job. */
  validator: string;
  /** Deltas and ends, in order; an error frame is thrown as an AppError. */
  frames: AsyncIterable<AnswerFrame>;
  /** Tells the validator to stop (it cancels the miner calls). Idempotent. */
  cancel(): void;
}

/**
 * The gateway's side of `chat.completions`: publishes a job to the validator
 * queue group with a private reply inbox, waits (bounded) for a validator to
 * accept it, then relays the frames. No validator at all, or none accepting
 * in time, is a 503 within ACCEPT_TIMEOUT_MS, never a hanging request.
 */
@Injectable()
export class ChatRelay {
  constructor(
    private readonly nats: NatsService,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  async start(job: ChatJob, correlationId: string): Promise<RelayedJob> {
    const nc = this.nats.nc;
    const inbox = createInbox();
    const subscription = nc.subscribe(inbox);
    const iterator = subscription[Symbol.asyncIterator]();
    const headers = natsHeaders();
    headers.set(CORRELATION_HEADER, correlationId);
    let finished = false;
    let cancelled = false;
    const cancel = () => {
      if (finished) return;
      finished = true;
      cancelled = true;
      subscription.unsubscribe();
      if (!nc.isClosed()) nc.publish(Subjects.chatCancel(job.jobId));
    };

    try {
      nc.publish(Subjects.chatCompletions, encodeJson(job), { reply: inbox, headers });
      const first = await next(iterator, this.config.chat.acceptTimeoutMs);
      if (!first)
        throw new AppError(
          ErrorCode.Unavailable,
          'No validator accepted the request in time; try again shortly.',
          { retryAfterSeconds: 1 },
        );
      const frame = toFrame(first);
      if (frame.type === 'error') throw frameError(frame);
      if (frame.type !== 'accepted')
        throw new AppError(
          ErrorCode.Internal,
          `validator protocol error: expected accepted, got ${frame.type}`,
        );
      const idleTimeoutMs = this.config.chat.idleTimeoutMs;
      const frames = async function* (): AsyncGenerator<AnswerFrame> {
        try {
          for (;;) {
            const message = await next(iterator, idleTimeoutMs);
            if (!message) {
              if (cancelled) throw new AppError(ErrorCode.Cancelled, 'The request was cancelled.');
              throw new AppError(ErrorCode.Timeout, 'The validator stopped responding.');
            }
            const f = toFrame(message);
            if (f.type === 'error') throw frameError(f);
            // `queued` only proves the validator is alive while the job waits for a slot.
            if (f.type === 'accepted' || f.type === 'queued') continue;
            yield f;
          }
        } finally {
          finished = true;
          subscription.unsubscribe();
        }
      };
      return { validator: frame.validator, frames: frames(), cancel };
    } catch (error) {
      cancel();
      throw error;
    }
  }
}

function toFrame(message: Msg): ChatFrame {
  // The server answers 503 on the inbox when nobody listens on the subject.
  if (message.headers?.hasError && message.headers.code === 503) {
    throw new AppError(ErrorCode.Unavailable, 'No validator is available; try again shortly.', {
      retryAfterSeconds: 1,
    });
  }
  const decoded = decodeJson(chatFrameSchema, message.data);
  if (!decoded.ok)
    throw new AppError(ErrorCode.Internal, `validator sent an invalid frame: ${decoded.error}`);
  return decoded.value;
}

export function frameError(frame: Extract<ChatFrame, { type: 'error' }>): AppError {
  const code = isErrorCode(frame.code) ? frame.code : ErrorCode.Internal;
  // A validator that predates reasons on error frames: a miner's engine refusing a prompt longer than its context.
  if (code === ErrorCode.InvalidRequest && !frame.reason && /context (window|length)/i.test(frame.message))
    return new AppError(code, frame.message, { param: 'messages', reason: 'context_length_exceeded' });
  return new AppError(code, frame.message, {
    retryAfterSeconds: frame.retryAfterSeconds,
    reason: frame.reason,
    param: frame.param,
  });
}

async function next(iterator: AsyncIterator<Msg>, timeoutMs: number): Promise<Msg | undefined> {
  let timer: NodeJS.Timeout | undefined;
  // Timers run before socket reads in an event-loop turn: on a busy process a frame that has already arrived
  // would lose to its own timeout. setImmediate lets the pending reads deliver it first.
  const timeout = new Promise<undefined>(
    (resolve) => (timer = setTimeout(() => setImmediate(() => resolve(undefined)), timeoutMs)),
  );
  try {
    const result = await Promise.race([iterator.next(), timeout]);
    if (result === undefined || result.done) return undefined;
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}
