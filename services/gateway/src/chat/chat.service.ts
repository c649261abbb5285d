import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { AppError, ErrorCode, rootLogger } from '@chattensor/common';
import type { ChatJob, ChatTurn, ChatUsage, MinerRef } from '@chattensor/protocol';
import type { Principal } from '../auth/principal';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';
import { ConversationStore, type StoredMessage } from '../conversations/conversation.store';
import { estimateTokens, fitHistory } from '../conversations/context-window.util';
import { RateLimitExceeded, RateLimiter, type Admission } from '../limits/rate-limiter';
import { ModelsService } from '../models/models.service';
import { ContextWindow } from '../models/context-window.service';
import { ChatRelay, type RelayedJob } from './chat-relay.service';
import {
  MIN_WIRE_TOP_P,
  chatRequestSchemas,
  contentText,
  parseChatRequest,
  type ChatCompletionRequest,
} from './chat-request.schema';

export interface ChatContext {
  principal: Principal;
  correlationId: string;
  /** Told the caller's rate-limit buckets once they are known, whether the request is admitted or refused. */
  onRateLimit?: (state: Admission) => void;
}

export interface StartedChat {
  id: string;
  created: number;
  request: ChatCompletionRequest;
  relayed: RelayedJob;
  admission: Admission;
  /** Tokens taken from the caller's bucket at admission, settled against the real usage later. */
  estimatedTokens: number;
  /** The turns this request adds to its conversation (empty when regenerating). */
  newTurns: ChatTurn[];
}

export interface FinishedChoice {
  index: number;
  text: string;
  finishReason: 'stop' | 'length' | 'cancelled';
  usage: ChatUsage;
  miner: MinerRef & { score?: number };
  model: string;
}

/**
 * Turns an OpenAI request into a chat job: validation, the caller's rate
 * limits, the conversation's history fitted to the context, then the relay
 * to a validator. Afterwards it settles the token bill and records the
 * exchange.
 */
@Injectable()
export class ChatService {
  private readonly log = rootLogger().child({ component: 'chat' });
  /** The request schemas, with this gateway's MAX_TOKENS_LIMIT (also what /openapi.json documents). */
  readonly schemas: ReturnType<typeof chatRequestSchemas>;

  constructor(
    private readonly relay: ChatRelay,
    private readonly models: ModelsService,
    private readonly conversations: ConversationStore,
    private readonly limiter: RateLimiter,
    private readonly contextWindow: ContextWindow,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    this.schemas = chatRequestSchemas({ maxTokens: config.chat.maxTokensLimit });
  }

  async start(body: unknown, context: ChatContext): Promise<StartedChat> {
    const request = parseChatRequest(body, this.schemas);
    const model = this.models.resolve(request.model);
    const maxTokens =
      request.max_completion_tokens ?? request.max_tokens ?? this.config.chat.defaultMaxTokens;
    if (maxTokens > this.config.chat.maxTokensLimit) {
      const param = request.max_completion_tokens ? 'max_completion_tokens' : 'max_tokens';
      throw new AppError(
        ErrorCode.InvalidRequest,
        `Invalid value for '${param}': must be at most ${this.config.chat.maxTokensLimit}.`,
        { param },
      );
    }
    const newTurns: ChatTurn[] = request.messages.map((m) => ({
      role: m.role === 'developer' ? 'system' : m.role,
      content: contentText(m.content),
    }));
    let messages = newTurns;
    if (request.conversation_id) {
      const history: ChatTurn[] = (
        await this.conversations.messages(request.conversation_id, context.principal.owner)
      ).map((m) => ({
        role: m.role,
        content: m.content,
      }));
      if (request.regenerate) {
        if (history.at(-1)?.role !== 'assistant') {
          throw new AppError(ErrorCode.InvalidRequest, 'The conversation has no answer to regenerate.', {
            param: 'regenerate',
          });
        }
        history.pop();
      }
      const fitted = fitHistory(history, newTurns, {
        contextTokens:
          this.contextWindow.contextLength(request.model) ?? this.config.conversations.contextTokens,
        maxTokens,
        charsPerToken: this.config.conversations.charsPerToken,
        maxChars: this.config.conversations.maxChars,
      });
      if (fitted.dropped > 0)
        this.log.debug(
          { conversationId: request.conversation_id, dropped: fitted.dropped },
          'history trimmed to the context',
        );
      messages = fitted.messages;
      if (messages.length === 0)
        throw new AppError(ErrorCode.InvalidRequest, 'The conversation is empty: send a message.', {
          param: 'messages',
        });
    }
    // A prompt the model cannot take is a 400 now, not a miner's refusal later.
    this.contextWindow.check(
      request.model,
      messages,
      request.max_completion_tokens ?? request.max_tokens ?? undefined,
    );
    // Prompt and answer both count against tokens per minute; the answer's share is settled on completion.
    const estimatedTokens = estimateTokens(messages, this.config.conversations.charsPerToken);
    let admission: Admission;
    try {
      admission = await this.limiter.admit(
        context.principal.rateSubject,
        context.principal.limits,
        estimatedTokens,
      );
    } catch (error) {
      if (error instanceof RateLimitExceeded) context.onRateLimit?.(error.state);
      throw error;
    }
    context.onRateLimit?.(admission);
    const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
    const job: ChatJob = {
      v: 1,
      jobId: id,
      model,
      messages,
      n: request.n ?? 1,
      deadline: Date.now() + this.config.chat.requestTimeoutMs,
      acceptBy: Date.now() + this.config.chat.acceptTimeoutMs,
      sampling: {
        maxTokens,
        temperature: request.temperature ?? undefined,
        // OpenAI accepts 0..1; the miner protocol carries (0, 1] in a 32-bit float (see MIN_WIRE_TOP_P).
        topP:
          request.top_p === undefined || request.top_p === null
            ? undefined
            : Math.max(request.top_p, MIN_WIRE_TOP_P),
        seed: request.seed ?? undefined,
        // An empty stop sequence would end nothing; the job protocol refuses it, so it is dropped here.
        stop: (request.stop === undefined || request.stop === null
          ? []
          : typeof request.stop === 'string'
            ? [request.stop]
            : request.stop
        ).filter((stop) => stop.length > 0),
        presencePenalty: request.presence_penalty ?? 0,
        frequencyPenalty: request.frequency_penalty ?? 0,
      },
    };
    try {
      const relayed = await this.relay.start(job, context.correlationId);
      return {
        id,
        created: Math.floor(Date.now() / 1000),
        request,
        relayed,
        admission,
        estimatedTokens,
        newTurns,
      };
    } catch (error) {
      // Nothing was generated: give the estimate back.
      await this.limiter
        .charge(context.principal.rateSubject, context.principal.limits, -estimatedTokens)
        .catch(() => undefined);
      throw error;
    }
  }

  /**
   * Settles the caller's token bucket and stores the exchange when the request
   * named a conversation. `stoppedText` is what a streamed answer had
   * delivered when its client stopped it: stored, marked as stopped, so the
   * question and the partial answer survive like any other exchange.
   */
  async finish(
    chat: StartedChat,
    choices: FinishedChoice[],
    usedTokens: number,
    context: ChatContext,
    stoppedText?: string,
  ): Promise<void> {
    await this.limiter
      .charge(context.principal.rateSubject, context.principal.limits, usedTokens - chat.estimatedTokens)
      .catch((error: unknown) => this.log.warn({ err: error }, 'settling the token bucket failed'));
    const conversationId = chat.request.conversation_id;
    if (!conversationId) return;
    const now = Date.now();
    const answer = choices.find((c) => c.index === 0);
    let reply: StoredMessage;
    if (answer && answer.finishReason !== 'cancelled') {
      reply = { role: 'assistant', content: answer.text, at: now, miner: answer.miner };
    } else if (stoppedText !== undefined) {
      reply = { role: 'assistant', content: stoppedText, at: now, stopped: true };
    } else return;
    await this.conversations.append(
      conversationId,
      context.principal.owner,
      [...chat.newTurns.map((t) => ({ ...t, at: now })), reply],
      { replaceLastAnswer: chat.request.regenerate === true },
    );
  }
}
