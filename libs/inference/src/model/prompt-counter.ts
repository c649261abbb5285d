import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ModelLoadError } from '../errors';
import { ChatTemplate } from '../tokenizer/chat-template';
import { Tokenizer } from '../tokenizer/tokenizer';
import type { ChatTurn } from '../types';
import type { ModelConfig } from './model-folder';

/** The context window the engine serves a model with: the smaller of the model's positions and the tokenizer's max length. */
export function contextLengthOf(
  config: ModelConfig,
  tokenizerConfig: Record<string, unknown>,
  limit?: number,
): number {
  const maxModelLength = tokenizerConfig.model_max_length;
  const length = Math.min(
    config.max_position_embeddings ?? Number.MAX_SAFE_INTEGER,
    typeof maxModelLength === 'number' && maxModelLength > 0 ? maxModelLength : Number.MAX_SAFE_INTEGER,
    limit ?? Number.MAX_SAFE_INTEGER,
  );
  return length === Number.MAX_SAFE_INTEGER ? 4096 : length;
}

/**
 * Counts a conversation's prompt tokens exactly as the engine does (the
 * model's chat template with the generation prompt, then its tokenizer),
 * from a model folder's config.json, tokenizer.json and tokenizer_config.json
 * alone: no ONNX graph and no onnxruntime, so an HTTP edge can refuse a prompt
 * longer than the context before any miner is asked.
 */
export class PromptCounter {
  private constructor(
    /** The id miners serving this folder announce (config.json `_name_or_path`, else the folder's name). */
    readonly modelName: string,
    readonly contextLength: number,
    private readonly tokenizer: Tokenizer,
    private readonly template: ChatTemplate,
  ) {}

  static fromFolder(dir: string): PromptCounter {
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new ModelLoadError(`model folder ${dir} does not exist`);
    const read = (file: string): string => {
      const path = join(dir, file);
      if (!existsSync(path)) throw new ModelLoadError(`${file} is missing from ${dir}`);
      return readFileSync(path, 'utf8');
    };
    const parse = <T>(file: string): T => {
      try {
        return JSON.parse(read(file)) as T;
      } catch (error) {
        if (error instanceof ModelLoadError) throw error;
        throw new ModelLoadError(`${file} is not valid JSON: ${(error as Error).message}`);
      }
    };
    const config = parse<ModelConfig>('config.json');
    const tokenizerConfig = parse<Record<string, unknown>>('tokenizer_config.json');
    const name =
      config._name_or_path && config._name_or_path.length > 0 ? config._name_or_path : basename(dir);
    return new PromptCounter(
      name,
      contextLengthOf(config, tokenizerConfig),
      Tokenizer.fromJson(read('tokenizer.json')),
      ChatTemplate.fromConfig(tokenizerConfig),
    );
  }

  /** Prompt tokens of a conversation; undefined when the model's template refuses it (the miner will say why). */
  count(messages: ChatTurn[]): number | undefined {
    let prompt: string;
    try {
      prompt = this.template.render(messages, true);
    } catch {
      return undefined;
    }
    return this.tokenizer.encode(prompt).length;
  }
}
