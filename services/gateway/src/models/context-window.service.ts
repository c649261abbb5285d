import { Inject, Injectable } from '@nestjs/common';
import { AppError, ConfigError, ErrorCode, rootLogger } from '@chattensor/common';
import { PromptCounter } from '@chattensor/inference';
import type { ChatTurn } from '@chattensor/protocol';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';
import { ModelsService } from './models.service';

/**
 * Refuses a prompt longer than the served model's context with OpenAI's 400
 * `context_length_exceeded`, before any miner is asked. The gateway reads each
 * served model's context length and tokenizer from its folder (MODEL_DIRS:
 * the JSON files only, never the weights or onnxruntime) and counts the
 * prompt exactly as the miners' engine does: the chat template, then the
 * tokenizer.
 */
@Injectable()
export class ContextWindow {
  private readonly counters = new Map<string, PromptCounter>();

  constructor(
    private readonly models: ModelsService,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    for (const dir of config.chat.modelDirs) {
      let counter: PromptCounter;
      try {
        counter = PromptCounter.fromFolder(dir);
      } catch (error) {
        throw new ConfigError([{ variable: 'MODEL_DIRS', problem: `${dir}: ${(error as Error).message}` }]);
      }
      this.counters.set(counter.modelName, counter);
    }
    if (this.counters.size > 0)
      rootLogger()
        .child({ component: 'context-window' })
        .info(
          { models: [...this.counters.values()].map((c) => ({ model: c.modelName, contextLength: c.contextLength })) },
          'counting prompt tokens with the served models’ tokenizers',
        );
  }

  /** The context length of a model the gateway knows, for history trimming. */
  contextLength(model: string): number | undefined {
    return this.candidates(model)
      .map((c) => c.contextLength)
      .reduce<number | undefined>((max, length) => Math.max(max ?? 0, length), undefined);
  }

  /**
   * Throws 400 context_length_exceeded when the prompt does not fit the model
   * (for the default model: none of the served models it may go to), or when
   * the prompt and an explicitly requested answer length exceed it together.
   */
  check(model: string, messages: ChatTurn[], requestedMaxTokens?: number): void {
    const candidates = this.candidates(model);
    if (candidates.length === 0) return;
    let closest: { counter: PromptCounter; tokens: number } | undefined;
    for (const counter of candidates) {
      const tokens = counter.count(messages);
      // A conversation the template refuses is the miner's to explain; no count, no verdict here.
      if (tokens === undefined) return;
      const fits = tokens < counter.contextLength && tokens + (requestedMaxTokens ?? 0) <= counter.contextLength;
      if (fits) return;
      if (!closest || counter.contextLength > closest.counter.contextLength) closest = { counter, tokens };
    }
    const { counter, tokens } = closest!;
    const message =
      requestedMaxTokens !== undefined && tokens < counter.contextLength
        ? `This model's maximum context length is ${counter.contextLength} tokens. However, you requested ${tokens + requestedMaxTokens} tokens (${tokens} in the messages, ${requestedMaxTokens} in the completion). Please reduce the length of the messages or completion.`
        : `This model's maximum context length is ${counter.contextLength} tokens. However, your messages resulted in ${tokens} tokens. Please reduce the length of the messages.`;
    throw new AppError(ErrorCode.InvalidRequest, message, { param: 'messages', reason: 'context_length_exceeded' });
  }

  /** The known models a request for `model` may be served by: that model, or for the default alias every served one. */
  private candidates(model: string): PromptCounter[] {
    if (model !== this.config.chat.defaultModel) {
      const counter = this.counters.get(model);
      return counter ? [counter] : [];
    }
    const served = new Set(this.models.list().map((entry) => entry.id));
    const known = [...this.counters.values()];
    const announced = known.filter((counter) => served.has(counter.modelName));
    return announced.length > 0 ? announced : known;
  }
}
