export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface SamplingOptions {
  /** Completion token limit; defaults to the rest of the context window. */
  maxTokens?: number;
  /** 0 is greedy; defaults to generation_config.json (greedy when it does not sample). */
  temperature?: number;
  topP?: number;
  /** 0 disables top-k. */
  topK?: number;
  minP?: number;
  /** Makes sampling reproducible for the same prompt and options. */
  seed?: number;
  /** Generation stops before any of these strings; they are not emitted. */
  stop?: string[];
  presencePenalty?: number;
  frequencyPenalty?: number;
  repetitionPenalty?: number;
  /** Keep generating past end-of-sequence tokens (benchmarks measuring a fixed number of tokens). */
  ignoreEos?: boolean;
  /**
   * The last message is an assistant turn to continue rather than a finished one (Hugging Face's
   * `continue_final_message`): the prompt ends with its text, and generation goes on from there.
   */
  continueFinalMessage?: boolean;
}

export type FinishReason = 'stop' | 'length';

export interface GenerationChunk {
  /** Text delta; may be empty while bytes of a character or a possible stop sequence are held back. */
  text: string;
  tokenIds: number[];
  finishReason?: FinishReason;
  usage?: { promptTokens: number; completionTokens: number };
}

export interface EngineOptions {
  device?: 'cpu' | 'cuda';
  /** Sequences decoded together in one forward pass (default 16). */
  maxBatchSize?: number;
  /**
   * Requests allowed to wait for a batch slot (default 64). When it is reached, generate() throws
   * QueueFullError, unless the new request's priority is higher than the lowest waiting one, which
   * is then displaced (its stream fails with QueueFullError).
   */
  maxQueue?: number;
  intraOpThreads?: number;
  /**
   * `int8`: quantize the weights of every MatMul to 8 bits (blocks of 32, one scale each) when
   * loading, for about 3.5x less weight memory traffic per token; needs a float32 model. Outputs
   * differ slightly from the float model's. `int4`: 4-bit blocks (llama.cpp Q4_0's precision), about
   * 6x less weight traffic, outputs further from the float model's. Default `none`: run the model as it is.
   */
  quantize?: 'none' | 'int8' | 'int4';
  /** Graph file inside the model folder, when not the first of the usual names. */
  onnxFile?: string;
  /** Caps the context window below the model's own (which may be 128k tokens); it bounds KV cache memory per sequence. */
  contextLength?: number;
  /** Prompt tokens per prefill forward pass; longer prompts are prefilled in chunks (default 512). */
  prefillChunkSize?: number;
}
