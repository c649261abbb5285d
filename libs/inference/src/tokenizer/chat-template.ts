import { Template } from '@huggingface/jinja';
import { InvalidRequestError, ModelLoadError } from '../errors';

export interface ChatMessage {
  role: string;
  content: string;
}

/**
 * Renders a model's Jinja chat template (tokenizer_config.json
 * `chat_template`) with the variables Hugging Face's apply_chat_template
 * passes: messages, special tokens and add_generation_prompt.
 */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    source: string,
    private readonly specialTokens: Record<string, string>,
  ) {
    try {
      this.template = new Template(source);
    } catch (error) {
      throw new ModelLoadError(
        `tokenizer_config.json: chat_template does not parse: ${(error as Error).message}`,
      );
    }
  }

  /** Picks the default template when tokenizer_config.json holds a list of named templates. */
  static fromConfig(config: Record<string, unknown>): ChatTemplate {
    let source = config.chat_template;
    if (Array.isArray(source))
      source = (source as { name: string; template: string }[]).find(
        (entry) => entry.name === 'default',
      )?.template;
    if (typeof source !== 'string' || source.length === 0)
      throw new ModelLoadError('tokenizer_config.json has no chat_template');
    const specialTokens: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const value = config[key];
      if (typeof value === 'string') specialTokens[key] = value;
      else if (
        value &&
        typeof value === 'object' &&
        typeof (value as { content?: unknown }).content === 'string'
      )
        specialTokens[key] = (value as { content: string }).content;
    }
    return new ChatTemplate(source, specialTokens);
  }

  /**
   * The prompt a model is fed: the conversation followed by the assistant's generation prompt or,
   * with `continueFinal`, ending inside the final assistant turn, after its text, as Hugging
   * Face's apply_chat_template(continue_final_message=True) does: the whole conversation is
   * rendered and everything after the final message's text (its end-of-turn) is cut.
   */
  renderPrompt(messages: readonly ChatMessage[], continueFinal = false): string {
    if (!continueFinal) return this.render(messages, true);
    const final = messages.at(-1);
    if (!final || final.role !== 'assistant')
      throw new InvalidRequestError('continuing the final message needs an assistant message last');
    const rendered = this.render(messages, false);
    for (const text of [final.content, final.content.trim()]) {
      const at = text ? rendered.lastIndexOf(text) : -1;
      if (at >= 0) return rendered.slice(0, at + text.length);
    }
    // A template that rewrites the text: the generation prompt of the turns before it, then the text.
    return this.render(messages.slice(0, -1), true) + final.content;
  }

  render(messages: readonly ChatMessage[], addGenerationPrompt = true): string {
    return this.template.render({
      messages: messages.map((message) => ({ role: message.role, content: message.content })),
      add_generation_prompt: addGenerationPrompt,
      ...this.specialTokens,
    });
  }
}
