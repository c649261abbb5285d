import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '@chattensor/common';
import type { ChatJob, ChatTurn, ChatUsage, MinerRef } from '@chattensor/protocol';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';
import { ConversationStore, fitHistory } from '../conversations/conversation.store';
import { ModelsService } from '../models/models.service';
import { ChatRelay, type RelayedJob } from './chat-relay.service';
import { contentText, parseChatRequest, type ChatCompletionRequest } from './chat-request.schema';

export interface ChatContext {
  owner: string;
  correlationId: string;
}

export interface StartedChat {
  id: string;
  created: number;
  request: ChatCompletionRequest;
  relayed: RelayedJob;
}

export interface FinishedChoice {
  index: number;
  text: string;
  finishReason: 'stop' | 'length' | 'cancelled';
  usage: ChatUsage;
  miner: MinerRef & { score?: number };
  model: string;
}

/** Turns an OpenAI request into a chat job (with the conversation's history) and records finished exchanges. */
@Injectable()
export class ChatService {
  constructor(
    private readonly relay: ChatRelay,
    private readonly models: ModelsService,
    private readonly conversations: ConversationStore,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  async start(body: unknown, context: ChatContext): Promise<StartedChat> {
    const request = parseChatRequest(body);
    const model = this.models.resolve(request.model);
    const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? this.config.chat.defaultMaxTokens;
    if (maxTokens > this.config.chat.maxTokensLimit) {
      const param = request.max_completion_tokens ? 'max_completion_tokens' : 'max_tokens';
      throw new AppError(ErrorCode.InvalidRequest, `Invalid value for '${param}': must be at most ${this.config.chat.maxTokensLimit}.`, { param });
    }
    let messages: ChatTurn[] = request.messages.map((m) => ({
      role: m.role === 'developer' ? 'system' : m.role,
      content: contentText(m.content),
    }));
    if (request.conversation_id) {
      const history = await this.conversations.messages(request.conversation_id, context.owner);
      messages = fitHistory(history, messages, this.config.conversations.maxChars);
    }
    const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
    const job: ChatJob = {
      v: 1,
      jobId: id,
      model,
      messages,
      n: request.n ?? 1,
      deadline: Date.now() + this.config.chat.requestTimeoutMs,
      sampling: {
        maxTokens,
        temperature: request.temperature ?? undefined,
        topP: request.top_p ?? undefined,
        seed: request.seed ?? undefined,
        stop: request.stop === undefined || request.stop === null ? [] : typeof request.stop === 'string' ? [request.stop] : request.stop,
        presencePenalty: request.presence_penalty ?? 0,
        frequencyPenalty: request.frequency_penalty ?? 0,
      },
    };
    const relayed = await this.relay.start(job, context.correlationId);
    return { id, created: Math.floor(Date.now() / 1000), request, relayed };
  }

  /** Appends the request's new turns and the first answer to the conversation, if the request named one. */
  async record(chat: StartedChat, choices: FinishedChoice[], context: ChatContext): Promise<void> {
    const conversationId = chat.request.conversation_id;
    const answer = choices.find((c) => c.index === 0);
    if (!conversationId || !answer || answer.finishReason === 'cancelled') return;
    const now = Date.now();
    await this.conversations.append(conversationId, context.owner, [
      ...chat.request.messages.map((m) => ({
        role: m.role === 'developer' ? ('system' as const) : m.role,
        content: contentText(m.content),
        at: now,
      })),
      { role: 'assistant', content: answer.text, at: now, miner: answer.miner },
    ]);
  }
}
