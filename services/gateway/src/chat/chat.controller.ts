import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, LATENCY_BUCKETS, rootLogger, counter, gauge, histogram } from '@chattensor/common';
import { Authenticated } from '../auth/authenticated.decorator';
import { toAppError } from '../errors/openai-exception.filter';
import { httpErrorOf } from '../errors/openai-error';
import { requestContext } from '../http/request-context';
import { rateLimitHeaders } from '../limits/rate-limiter';
import { ChatService, type ChatContext, type FinishedChoice, type StartedChat } from './chat.service';
import type { AnswerFrame } from './chat-relay.service';
import { chatCompletionJson, chunkJson, sseEvent, usageOf } from './openai-format.util';

const latency = {
  ttft: histogram({
    name: 'chattensor_gateway_time_to_first_token_seconds',
    help: 'Time from request to the first token sent to the client',
    buckets: LATENCY_BUCKETS,
  }),
  e2e: histogram({
    name: 'chattensor_gateway_e2e_request_latency_seconds',
    help: 'Time from request to the end of the answer',
    buckets: LATENCY_BUCKETS,
  }),
};
const generationTokens = counter({
  name: 'chattensor_gateway_generation_tokens_total',
  help: 'Completion tokens delivered to clients',
});
const running = gauge({
  name: 'chattensor_gateway_num_requests_running',
  help: 'Chat requests in progress',
});
const outcomes = counter({
  name: 'chattensor_gateway_requests_total',
  help: 'Chat requests by outcome (ok, cancelled by the client, or the error code)',
  labelNames: ['outcome', 'stream'],
});

/** What a request delivered, whatever way it ended. */
interface Delivery {
  choices: FinishedChoice[];
  completionTokens: number;
  /** Error code of a stream that failed after its headers were sent. */
  error?: string;
  /** What the first answer had streamed when the client stopped it. */
  stoppedText?: string;
}

/** `POST /v1/chat/completions`: SSE when `stream: true`, one JSON object otherwise. */
@Controller('v1/chat')
@Authenticated()
export class ChatController {
  private readonly log = rootLogger().child({ component: 'chat' });

  constructor(private readonly chat: ChatService) {}

  @Post('completions')
  @HttpCode(200)
  async create(
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const started = performance.now();
    // Every answer, refusals included, reports the caller's buckets as OpenAI does.
    const context: ChatContext = {
      ...requestContext(request),
      onRateLimit: (state) => void reply.headers(rateLimitHeaders(state)),
    };
    const stream =
      typeof body === 'object' && body !== null && (body as { stream?: unknown }).stream === true;
    running.inc();
    let outcome = 'ok';
    try {
      const chat = await this.chat.start(body, context);
      // The client going away cancels the job all the way to the miners.
      let completed = false;
      reply.raw.once('close', () => {
        if (!completed) {
          outcome = 'cancelled';
          chat.relayed.cancel();
        }
      });
      // Runs before the response's last byte: a client that reads the conversation right after the answer
      // finds the exchange stored, and a disconnect from here on is no cancellation.
      const beforeEnd = async (delivery: Delivery) => {
        completed = true;
        await this.settle(chat, delivery, context);
      };
      const delivery = chat.request.stream
        ? await this.stream(chat, reply, started, beforeEnd)
        : await this.json(chat, reply, started, beforeEnd);
      if (delivery.error && outcome !== 'cancelled') outcome = delivery.error;
      latency.e2e.observe((performance.now() - started) / 1000);
    } catch (error) {
      if (outcome !== 'cancelled') outcome = toAppError(error).code;
      throw error;
    } finally {
      running.dec();
      outcomes.inc({ outcome, stream: String(stream) });
    }
  }

  private async settle(chat: StartedChat, delivery: Delivery, context: ChatContext): Promise<void> {
    const used =
      delivery.choices.length > 0
        ? usageOf(delivery.choices).total_tokens
        : chat.estimatedTokens + delivery.completionTokens;
    await this.chat
      .finish(chat, delivery.choices, used, context, delivery.stoppedText)
      .catch((error: unknown) => this.log.error({ err: error }, 'storing the conversation failed'));
  }

  private async json(
    chat: StartedChat,
    reply: FastifyReply,
    started: number,
    beforeEnd: (delivery: Delivery) => Promise<void>,
  ): Promise<Delivery> {
    let first = true;
    const delivery = await collect(chat, chat.relayed.frames, new Map(), (frame) => {
      if (first && frame.type === 'delta') {
        first = false;
        latency.ttft.observe((performance.now() - started) / 1000);
      }
    });
    await beforeEnd(delivery);
    await reply.header('x-request-id', chat.id).send(chatCompletionJson(chat, delivery.choices));
    return delivery;
  }

  private async stream(
    chat: StartedChat,
    reply: FastifyReply,
    started: number,
    beforeEnd: (delivery: Delivery) => Promise<void>,
  ): Promise<Delivery> {
    // The status line waits for the first frame: a stream that cannot start (no miner, an invalid request, a
    // context too long) gets its real HTTP status and error object, not 200 and an in-band error.
    const upstream = chat.relayed.frames[Symbol.asyncIterator]();
    let head: IteratorResult<AnswerFrame>;
    try {
      head = await upstream.next();
    } catch (error) {
      const code = toAppError(error).code;
      // A client that left before the first token keeps its question, with an empty stopped answer.
      await beforeEnd({
        choices: [],
        completionTokens: 0,
        error: code,
        ...(code === ErrorCode.Cancelled ? { stoppedText: '' } : {}),
      });
      throw error;
    }
    const frames = (async function* (): AsyncGenerator<AnswerFrame> {
      try {
        if (head.done) return;
        yield head.value;
        for (;;) {
          const next = await upstream.next();
          if (next.done) return;
          yield next.value;
        }
      } finally {
        await upstream.return?.();
      }
    })();
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      'x-request-id': chat.id,
    });
    // Events produced in one tick (a role chunk and its first delta, frames NATS delivered together) leave in one
    // socket write: corked until the end of the tick, which adds no latency.
    let corked = false;
    const write = (data: string) => {
      if (raw.writableEnded || raw.destroyed) return;
      if (!corked) {
        corked = true;
        raw.cork();
        process.nextTick(() => {
          corked = false;
          raw.uncork();
        });
      }
      raw.write(data);
    };
    // Uncork before ending: Node.js 24 drops data still corked when end() is called.
    const end = () => {
      if (corked) {
        corked = false;
        raw.uncork();
      }
      raw.end();
    };
    const roleSent = new Set<number>();
    const texts = new Map<number, string>();
    let first = true;
    let completionTokens = 0;
    try {
      const delivery = await collect(chat, frames, texts, (frame) => {
        if (frame.type === 'delta') {
          completionTokens += frame.tokens;
          if (first) {
            latency.ttft.observe((performance.now() - started) / 1000);
            first = false;
          }
          if (!roleSent.has(frame.index)) {
            roleSent.add(frame.index);
            write(sseEvent(chunkJson(chat, frame.index, { role: 'assistant', content: '' }, null)));
          }
          write(sseEvent(chunkJson(chat, frame.index, { content: frame.text }, null)));
        } else {
          if (!roleSent.has(frame.index))
            write(sseEvent(chunkJson(chat, frame.index, { role: 'assistant', content: '' }, null)));
          write(
            sseEvent(
              chunkJson(chat, frame.index, {}, frame.finishReason === 'length' ? 'length' : 'stop', {
                miner: frame.miner,
                model: frame.model,
              }),
            ),
          );
        }
      });
      await beforeEnd(delivery);
      if (chat.request.stream_options?.include_usage) {
        write(sseEvent({ ...chunkJson(chat, 0, {}, null), choices: [], usage: usageOf(delivery.choices) }));
      }
      write('data: [DONE]\n\n');
      end();
      return delivery;
    } catch (error) {
      // Headers are out: report in-band with the same error object a status code would carry, then close.
      const appError = toAppError(error);
      const http = httpErrorOf(appError);
      if (http.errorId) this.log.error({ errorId: http.errorId, err: error }, 'stream failed');
      write(sseEvent(http.body));
      end();
      const failed: Delivery = { choices: [], completionTokens, error: appError.code };
      // The client stopped the answer: keep what it was shown, as the stopped answer.
      if (appError.code === ErrorCode.Cancelled) failed.stoppedText = texts.get(0) ?? '';
      await beforeEnd(failed);
      return failed;
    }
  }
}

/**
 * Drains a job's frames into finished choices, calling `onFrame` for each
 * frame as it arrives. `texts` collects each choice's text so far, which the
 * caller still holds when the job ends early.
 */
async function collect(
  chat: StartedChat,
  frames: AsyncIterable<AnswerFrame>,
  texts: Map<number, string>,
  onFrame?: (frame: AnswerFrame) => void,
): Promise<Delivery> {
  const wanted = chat.request.n ?? 1;
  const finished: FinishedChoice[] = [];
  let completionTokens = 0;
  for await (const frame of frames) {
    if (frame.type === 'delta') {
      texts.set(frame.index, (texts.get(frame.index) ?? '') + frame.text);
      generationTokens.inc(frame.tokens);
      completionTokens += frame.tokens;
    } else {
      finished.push({
        index: frame.index,
        text: texts.get(frame.index) ?? '',
        finishReason: frame.finishReason,
        usage: frame.usage,
        miner: frame.miner,
        model: frame.model,
      });
    }
    onFrame?.(frame);
    if (finished.length === wanted) break;
  }
  return { choices: finished.sort((a, b) => a.index - b.index), completionTokens };
}
