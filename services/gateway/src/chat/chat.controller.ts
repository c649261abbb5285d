import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram } from 'prom-client';
import { AppError, ErrorCode, LATENCY_BUCKETS, metricsRegistry, rootLogger } from '@chattensor/common';
import { requestContext } from '../http/request-context';
import { ChatService, type FinishedChoice, type StartedChat } from './chat.service';
import type { AnswerFrame } from './chat-relay.service';
import { chatCompletionJson, chunkJson, sseEvent, usageOf } from './openai-format.util';

const latency = {
  ttft: new Histogram({
    name: 'chattensor_gateway_time_to_first_token_seconds',
    help: 'Time from request to the first token sent to the client',
    buckets: LATENCY_BUCKETS,
    registers: [metricsRegistry],
  }),
  e2e: new Histogram({
    name: 'chattensor_gateway_e2e_request_latency_seconds',
    help: 'Time from request to the end of the answer',
    buckets: LATENCY_BUCKETS,
    registers: [metricsRegistry],
  }),
};
const generationTokens = new Counter({
  name: 'chattensor_gateway_generation_tokens_total',
  help: 'Completion tokens delivered to clients',
  registers: [metricsRegistry],
});
const running = new Gauge({
  name: 'chattensor_gateway_num_requests_running',
  help: 'Chat requests in progress',
  registers: [metricsRegistry],
});

type Recorder = (choices: FinishedChoice[]) => Promise<void>;

/** `POST /v1/chat/completions`: SSE when `stream: true`, one JSON object otherwise. */
@Controller('v1/chat')
export class ChatController {
  private readonly log = rootLogger().child({ component: 'chat' });

  constructor(private readonly chat: ChatService) {}

  @Post('completions')
  @HttpCode(200)
  async create(@Body() body: unknown, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const started = performance.now();
    const context = requestContext(request);
    running.inc();
    try {
      const chat = await this.chat.start(body, context);
      // The client going away cancels the job all the way to the miners.
      let completed = false;
      reply.raw.once('close', () => {
        if (!completed) chat.relayed.cancel();
      });
      // The exchange is stored before the client sees the end of the answer, so an
      // acknowledged answer is never lost to a gateway restart.
      const record = (choices: FinishedChoice[]) => this.chat.record(chat, choices, context);
      if (chat.request.stream) await this.stream(chat, reply, started, record);
      else await this.json(chat, reply, started, record);
      completed = true;
      latency.e2e.observe((performance.now() - started) / 1000);
    } finally {
      running.dec();
    }
  }

  private async json(chat: StartedChat, reply: FastifyReply, started: number, record: Recorder): Promise<void> {
    let first = true;
    const choices = await collect(chat, (frame) => {
      if (first && frame.type === 'delta') {
        first = false;
        latency.ttft.observe((performance.now() - started) / 1000);
      }
    });
    await record(choices);
    await reply.header('x-request-id', chat.id).send(chatCompletionJson(chat, choices));
  }

  private async stream(chat: StartedChat, reply: FastifyReply, started: number, record: Recorder): Promise<void> {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      'x-request-id': chat.id,
    });
    const write = (data: string) => {
      if (!raw.writableEnded && !raw.destroyed) raw.write(data);
    };
    const roleSent = new Set<number>();
    let first = true;
    try {
      const choices = await collect(chat, (frame) => {
        if (frame.type === 'delta') {
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
          if (!roleSent.has(frame.index)) write(sseEvent(chunkJson(chat, frame.index, { role: 'assistant', content: '' }, null)));
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
      await record(choices);
      if (chat.request.stream_options?.include_usage) {
        write(sseEvent({ ...chunkJson(chat, 0, {}, null), choices: [], usage: usageOf(choices) }));
      }
      write('data: [DONE]\n\n');
      raw.end();
    } catch (error) {
      // Headers are out: report in-band, the way OpenAI streams do, then close.
      const appError = error instanceof AppError ? error : new AppError(ErrorCode.Internal, 'internal error', { cause: error });
      if (appError.code === ErrorCode.Internal) this.log.error({ err: error }, 'stream failed');
      write(sseEvent({ error: { message: appError.message, type: appError.code, param: null, code: appError.code } }));
      raw.end();
    }
  }
}

/** Drains a job's frames into finished choices, calling `onFrame` for each frame as it arrives. */
async function collect(chat: StartedChat, onFrame?: (frame: AnswerFrame) => void): Promise<FinishedChoice[]> {
  const wanted = chat.request.n ?? 1;
  const texts = new Map<number, string>();
  const finished: FinishedChoice[] = [];
  for await (const frame of chat.relayed.frames) {
    if (frame.type === 'delta') {
      texts.set(frame.index, (texts.get(frame.index) ?? '') + frame.text);
      generationTokens.inc(frame.tokens);
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
  return finished.sort((a, b) => a.index - b.index);
}
