import { InvalidRequestError, QueueFullError } from '../errors';
import { addEndOfTurnId, readModelFolder, type GenerationDefaults } from '../model/model-folder';
import { contextLengthOf } from '../model/prompt-counter';
import { ChatTemplate } from '../tokenizer/chat-template';
import { StreamingDetokenizer, Tokenizer } from '../tokenizer/tokenizer';
import type { ChatTurn, EngineOptions, FinishReason, GenerationChunk, SamplingOptions } from '../types';
import { ChunkChannel } from './chunk-channel';
import { DecoderSession } from './decoder-session';
import {
  appendKvColumn,
  assembleKvCache,
  emptyKvCache,
  type KvCache,
  type KvRowSource,
  type KvTarget,
} from './kv-cache';

/** Columns a self-appended batch cache grows by (see batchTarget). */
const KV_CAPACITY_STEP = 32;
import { TokenSampler, type SamplerSettings } from './sampler';
import { resolveSamplerSettings } from './sampler-settings';
import { StopSequenceMatcher } from './stop-matcher';

/** One request from admission to its last chunk. */
interface Sequence {
  promptIds: number[];
  generated: number[];
  maxTokens: number;
  sampler: TokenSampler;
  detokenizer: StreamingDetokenizer;
  stops: StopSequenceMatcher;
  channel: ChunkChannel<GenerationChunk>;
  /** Tokens of this sequence held in the batch cache. */
  cached: number;
  /** Sampled but not yet fed to the model. */
  nextToken: number;
  cancelled: boolean;
  ignoreEos: boolean;
  /** Admission rank while waiting for a batch slot: higher first. */
  priority: number;
  /** Order of arrival; among equal priorities the earlier request goes first. */
  arrival: number;
  /** Removes the abort listener once the request is over. */
  detach?: () => void;
}

/** True when `a` takes a free batch slot before `b`: higher priority first, then first come, first served. */
function admittedBefore(a: Sequence, b: Sequence): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.arrival < b.arrival);
}

/**
 * Runs a decoder-only LLM exported in the Hugging Face / Optimum ONNX layout
 * and serves concurrent chat requests with continuous batching: sequences
 * join the running batch after their prompt is prefilled and leave it as
 * soon as they finish, and every decode step advances all of them in one
 * forward pass.
 */
export class InferenceEngine {
  /** Requests waiting for a batch slot, kept sorted by admittedBefore(). */
  private readonly waiting: Sequence[] = [];
  /** Taken off the queue for the prefill in progress; see queued(). */
  private prefilling: Sequence[] = [];
  private running: Sequence[] = [];
  private arrivals = 0;
  private cache: KvCache;
  private loop?: Promise<void>;
  private looping = false;
  private closed = false;
  private readonly eosIds: Set<number>;

  private constructor(
    readonly modelName: string,
    readonly contextLength: number,
    private readonly tokenizer: Tokenizer,
    private readonly template: ChatTemplate,
    private readonly session: DecoderSession,
    private readonly defaults: GenerationDefaults,
    private readonly options: Required<Pick<EngineOptions, 'maxBatchSize' | 'maxQueue' | 'prefillChunkSize'>>,
  ) {
    this.cache = emptyKvCache(session.layout, 0);
    this.eosIds = new Set(defaults.eosTokenIds);
  }

  /** Loads a model folder; throws ModelLoadError naming what is missing or unsupported. */
  static async load(modelDir: string, options: EngineOptions = {}): Promise<InferenceEngine> {
    const folder = readModelFolder(modelDir, options.onnxFile);
    const tokenizer = Tokenizer.fromJson(folder.tokenizerJson);
    const template = ChatTemplate.fromConfig(folder.tokenizerConfig);
    const session = await DecoderSession.create(folder.onnxPath, folder.config, {
      device: options.device ?? 'cpu',
      intraOpThreads: options.intraOpThreads,
      quantize: options.quantize ?? 'none',
    });
    addEndOfTurnId(folder, (token) => tokenizer.tokenId(token));
    const contextLength = contextLengthOf(folder.config, folder.tokenizerConfig, options.contextLength);
    const positiveInt = (value: number | undefined, fallback: number, name: string): number => {
      if (value === undefined) return fallback;
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
      return value;
    };
    return new InferenceEngine(folder.name, contextLength, tokenizer, template, session, folder.generation, {
      maxBatchSize: positiveInt(options.maxBatchSize, 16, 'maxBatchSize'),
      maxQueue: positiveInt(options.maxQueue, 64, 'maxQueue'),
      prefillChunkSize: positiveInt(options.prefillChunkSize, 512, 'prefillChunkSize'),
    });
  }

  /** Runs one forward pass so that the first request does not pay for onnxruntime's lazy initialisation. */
  async warmup(): Promise<void> {
    const ids = this.tokenizer.encode(this.template.render([{ role: 'user', content: 'Hello' }]));
    await this.session.forward({
      batch: 1,
      seqLength: ids.length,
      inputIds: BigInt64Array.from(ids, BigInt),
      positionIds: BigInt64Array.from(ids, (_, index) => BigInt(index)),
      attentionMask: new BigInt64Array(ids.length).fill(1n),
      past: emptyKvCache(this.session.layout, 1),
    });
  }

  countTokens(messages: ChatTurn[]): number {
    return this.encodeChat(messages).length;
  }

  stats(): { running: number; waiting: number } {
    return { running: this.running.length, waiting: this.queued() };
  }

  /**
   * Streams the assistant's reply. The last chunk carries finishReason and
   * usage. Aborting `signal` ends the stream with the signal's reason within
   * one decode step; breaking out of the loop frees the batch slot (or the
   * place in the queue) the same way.
   *
   * `priority` ranks requests waiting for a batch slot: any finite number,
   * only compared with the others (the miner passes the caller's stake), 0
   * by default. Free slots go to the highest priority first and, among
   * equals, to the earliest request. The ranking is strict: a running request
   * is never preempted, and a waiting one is served only when nothing of a
   * higher priority waits, however long that takes, so under sustained load
   * from high priorities low ones wait until their caller's deadline or until
   * they are displaced. When the queue is full, a request whose priority is
   * higher than the lowest waiting one takes its place (the one that
   * arrived last among the lowest), whose stream then fails with
   * QueueFullError; any other request gets QueueFullError thrown
   * synchronously.
   */
  generate(
    messages: ChatTurn[],
    sampling: SamplingOptions = {},
    signal?: AbortSignal,
    priority = 0,
  ): AsyncIterable<GenerationChunk> {
    if (this.closed) throw new InvalidRequestError('engine is closed');
    if (!Number.isFinite(priority)) throw new InvalidRequestError('priority must be a finite number');
    // Refused before any tokenizing, so a saturated engine sheds load cheaply.
    const displaced = this.makeRoomFor(priority);
    if (
      sampling.maxTokens !== undefined &&
      (!Number.isInteger(sampling.maxTokens) || sampling.maxTokens < 1)
    ) {
      throw new InvalidRequestError('maxTokens must be a positive integer');
    }
    const promptIds = this.encodeChat(messages, sampling.continueFinalMessage === true);
    if (promptIds.length === 0) throw new InvalidRequestError('prompt is empty');
    if (promptIds.length >= this.contextLength) {
      throw new InvalidRequestError(
        `prompt has ${promptIds.length} tokens; the context window is ${this.contextLength}`,
        'context_length_exceeded',
      );
    }
    const sequence: Sequence = {
      promptIds,
      generated: [],
      maxTokens: Math.min(
        this.contextLength - promptIds.length,
        sampling.maxTokens ?? this.defaults.maxNewTokens ?? Number.MAX_SAFE_INTEGER,
      ),
      sampler: new TokenSampler(this.samplerSettings(sampling), promptIds),
      detokenizer: new StreamingDetokenizer(this.tokenizer),
      stops: new StopSequenceMatcher((sampling.stop ?? []).filter((stop) => stop.length > 0)),
      channel: new ChunkChannel<GenerationChunk>(() => {
        sequence.cancelled = true;
        sequence.detach?.();
        this.withdraw(sequence);
      }),
      cached: 0,
      nextToken: -1,
      cancelled: false,
      ignoreEos: sampling.ignoreEos === true,
      priority,
      arrival: this.arrivals++,
    };
    if (signal) {
      const onAbort = (): void => {
        sequence.cancelled = true;
        sequence.channel.fail(signal.reason);
        this.withdraw(sequence);
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        // Long-lived signals (one per connection, say) must not collect a listener per request.
        sequence.detach = () => signal.removeEventListener('abort', onAbort);
      }
    }
    if (!sequence.cancelled) {
      // Only now that the request is known to be valid does it push another one out.
      if (displaced) this.displace(displaced);
      this.enqueue(sequence);
      this.ensureLoop();
    }
    return sequence.channel;
  }

  /** Fails waiting and running requests and releases the onnxruntime session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const sequence of [...this.waiting, ...this.prefilling, ...this.running]) {
      sequence.cancelled = true;
      sequence.channel.fail(new InvalidRequestError('engine closed'));
    }
    this.waiting.length = 0;
    await this.loop;
    await this.session.release();
  }

  /**
   * Checks the queue bound for a new request: returns the waiting request it
   * displaces when the queue is full, undefined when there is room, and
   * throws QueueFullError when it cannot get in.
   */
  private makeRoomFor(priority: number): Sequence | undefined {
    // Requests that will take a free batch slot at the next step boundary do not count against the queue.
    const freeSlots = Math.max(0, this.options.maxBatchSize - this.running.length);
    if (this.queued() < this.options.maxQueue + freeSlots) return undefined;
    // The queue is sorted, so its tail is the lowest priority and, among those, the latest arrival.
    const lowest = this.waiting.at(-1);
    if (lowest && priority > lowest.priority) return lowest;
    throw new QueueFullError(
      `inference queue is full (${this.options.maxQueue} requests waiting for a batch slot)`,
    );
  }

  /**
   * Requests without a batch slot yet, as stats() and the queue bound count
   * them: those in the queue and those whose prompts are being prefilled. A
   * request stops counting the moment its prompt is in the cache (it joins
   * the batch or finishes) or it ends, not when the prefill step returns a
   * few microtasks later: by then its caller may have sent a new request.
   */
  private queued(): number {
    let prefilling = 0;
    for (const sequence of this.prefilling) if (!sequence.cancelled && sequence.cached === 0) prefilling++;
    return this.waiting.length + prefilling;
  }

  /** Fails a waiting request so that a higher-priority one can take its place; its caller can retry elsewhere. */
  private displace(sequence: Sequence): void {
    this.withdraw(sequence);
    this.fail(
      sequence,
      new QueueFullError('displaced from the inference queue by a higher-priority request'),
    );
  }

  /** Ends a request with an error; the scheduler drops it at its next step. */
  private fail(sequence: Sequence, error: unknown): void {
    sequence.cancelled = true;
    sequence.detach?.();
    sequence.channel.fail(error);
  }

  /** Where a request belongs in the sorted queue (or is, when it waits there): a binary search. */
  private queueIndex(sequence: Sequence): number {
    let low = 0;
    let high = this.waiting.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (admittedBefore(this.waiting[middle], sequence)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private enqueue(sequence: Sequence): void {
    this.waiting.splice(this.queueIndex(sequence), 0, sequence);
  }

  /** Removes a cancelled request from the queue at once, so it stops counting against the bound; no-op once it has left the queue. */
  private withdraw(sequence: Sequence): void {
    const index = this.queueIndex(sequence);
    if (this.waiting[index] === sequence) this.waiting.splice(index, 1);
  }

  private encodeChat(messages: ChatTurn[], continueFinal = false): number[] {
    let prompt: string;
    try {
      prompt = this.template.renderPrompt(messages, continueFinal);
    } catch (error) {
      if (error instanceof InvalidRequestError) throw error;
      // Templates reject conversations they do not support (raise_exception), e.g. a system turn or roles out of order.
      throw new InvalidRequestError(
        `the model's chat template rejected the conversation: ${(error as Error).message}`,
      );
    }
    return this.tokenizer.encode(prompt);
  }

  private samplerSettings(sampling: SamplingOptions): SamplerSettings {
    return resolveSamplerSettings(this.defaults, sampling);
  }

  private ensureLoop(): void {
    if (this.looping) return;
    this.looping = true;
    this.loop = this.schedule();
  }

  /** The scheduling loop: admit waiting requests between decode steps, then advance the batch by one token. */
  private async schedule(): Promise<void> {
    while (!this.closed && (this.waiting.length > 0 || this.running.length > 0)) {
      try {
        this.dropFinished();
        while (this.waiting.length > 0 && this.running.length < this.options.maxBatchSize) {
          // Taken off the queue in the same synchronous step that picks them: a request
          // queued during the prefill may go ahead of those still waiting, never of these.
          this.prefilling = this.takePrefillGroup();
          try {
            if (this.prefilling.length === 1) await this.prefillChunked(this.prefilling[0]);
            else if (this.prefilling.length > 1) await this.prefillTogether(this.prefilling);
          } catch (error) {
            // Only a decode step between the chunks of a long prompt throws here, before
            // that prompt joined the batch: it goes back to its place in the queue.
            for (const sequence of this.prefilling) if (!sequence.cancelled) this.enqueue(sequence);
            throw error;
          } finally {
            this.prefilling = [];
          }
        }
        this.dropFinished();
        if (this.running.length > 0) await this.decodeStep();
      } catch (error) {
        // A failed forward pass leaves the batch cache unusable: fail its requests, keep serving new ones.
        for (const sequence of this.running) this.fail(sequence, error);
        this.running = [];
        this.cache = emptyKvCache(this.session.layout, 0);
      }
    }
    // Cleared in the same synchronous step as the final queue check, so a
    // request enqueued after it always starts a new loop.
    this.looping = false;
  }

  /**
   * Takes the requests at the head of the queue to prefill in one forward
   * pass: as many as there are free batch slots, while the left-padded batch
   * stays within one prefill chunk. A prompt longer than a chunk goes alone
   * and is prefilled chunk by chunk. Half-precision graphs prefill one request
   * at a time: their fully masked padding rows can overflow to NaN. The group
   * stops at the first request that does not fit, so a lower priority never
   * overtakes a higher one.
   */
  private takePrefillGroup(): Sequence[] {
    const budget = this.options.prefillChunkSize;
    const slots = this.options.maxBatchSize - this.running.length;
    const canBatch = this.session.layout.elementType === 'float32';
    const group: Sequence[] = [];
    let taken = 0;
    let longest = 0;
    for (const sequence of this.waiting) {
      if (sequence.cancelled) {
        taken++;
        continue;
      }
      const length = sequence.promptIds.length;
      if (
        group.length > 0 &&
        (!canBatch ||
          group.length >= slots ||
          length > budget ||
          (group.length + 1) * Math.max(longest, length) > budget)
      )
        break;
      group.push(sequence);
      taken++;
      longest = Math.max(longest, length);
      if (length > budget) break;
    }
    this.waiting.splice(0, taken);
    return group;
  }

  /** Prefills several prompts in one left-padded forward pass and adds them to the running batch. */
  private async prefillTogether(group: Sequence[]): Promise<void> {
    const batch = group.length;
    const width = Math.max(...group.map((sequence) => sequence.promptIds.length));
    const inputIds = new BigInt64Array(batch * width);
    const positionIds = new BigInt64Array(batch * width);
    const attentionMask = new BigInt64Array(batch * width);
    group.forEach((sequence, row) => {
      const ids = sequence.promptIds;
      const offset = row * width + width - ids.length;
      ids.forEach((id, index) => {
        inputIds[offset + index] = BigInt(id);
        positionIds[offset + index] = BigInt(index);
      });
      attentionMask.fill(1n, offset, (row + 1) * width);
    });
    let result;
    try {
      result = await this.session.forward({
        batch,
        seqLength: width,
        inputIds,
        positionIds,
        attentionMask,
        past: emptyKvCache(this.session.layout, batch),
      });
    } catch (error) {
      for (const sequence of group) this.fail(sequence, error);
      return;
    }
    const joining: { sequence: Sequence; row: number }[] = [];
    group.forEach((sequence, row) => {
      sequence.cached = sequence.promptIds.length;
      if (!sequence.cancelled && !this.advance(sequence, result.lastLogits[row]))
        joining.push({ sequence, row });
    });
    this.join(joining.map(({ sequence, row }) => ({ sequence, cache: result.present, row })));
  }

  /** Adds freshly prefilled sequences to the running batch, rebuilding the batch cache once. */
  private join(entries: { sequence: Sequence; cache: KvCache; row: number }[]): void {
    if (entries.length === 0) return;
    const rows = [
      ...this.running.map((running, row) => this.batchRow(running, row)),
      ...entries.map(({ sequence, cache, row }) => ({ cache, row, valid: sequence.cached })),
    ];
    this.cache = assembleKvCache(this.session.layout, rows, this.batchTarget(rows));
    this.running.push(...entries.map(({ sequence }) => sequence));
  }

  /** Row `row` of the batch cache, holding `sequence`. */
  private batchRow(sequence: Sequence, row: number): KvRowSource {
    return {
      cache: this.cache,
      row,
      valid: sequence.cached,
      align: this.session.appendsNewKeyValues ? 'left' : 'right',
    };
  }

  /**
   * The batch cache's layout: right-aligned, as Optimum graphs concatenate
   * past and present; left-aligned with free columns when the engine appends
   * the graph's NEW_KEY_VALUES itself, so a decode step copies only the new
   * position out of onnxruntime instead of the whole cache of every layer.
   */
  private batchTarget(rows: readonly KvRowSource[]): KvTarget {
    if (!this.session.appendsNewKeyValues) return { align: 'right' };
    const longest = rows.reduce((most, row) => Math.max(most, row.valid), 0);
    return { align: 'left', capacity: Math.ceil((longest + 1) / KV_CAPACITY_STEP) * KV_CAPACITY_STEP };
  }

  private async prefillChunked(sequence: Sequence): Promise<void> {
    const ids = sequence.promptIds;
    let past = emptyKvCache(this.session.layout, 1);
    let lastLogits: Float32Array | undefined;
    for (let start = 0; start < ids.length; start += this.options.prefillChunkSize) {
      // Running sequences advance one token between chunks, so a long prompt does not
      // stall their streams (a failure there fails the running batch, not this prompt).
      if (start > 0 && this.running.length > 0) await this.decodeStep();
      if (sequence.cancelled) return;
      const chunk = ids.slice(start, start + this.options.prefillChunkSize);
      try {
        const result = await this.session.forward({
          batch: 1,
          seqLength: chunk.length,
          inputIds: BigInt64Array.from(chunk, BigInt),
          positionIds: BigInt64Array.from(chunk, (_, index) => BigInt(start + index)),
          attentionMask: new BigInt64Array(start + chunk.length).fill(1n),
          past,
        });
        past = result.present;
        lastLogits = result.lastLogits[0];
      } catch (error) {
        this.fail(sequence, error);
        return;
      }
    }
    sequence.cached = ids.length;
    if (sequence.cancelled || !lastLogits) return;
    if (this.advance(sequence, lastLogits)) return;
    this.join([{ sequence, cache: past, row: 0 }]);
  }

  private async decodeStep(): Promise<void> {
    if (this.session.appendsNewKeyValues) return this.decodeStepAppending();
    const batch = this.running.length;
    const past = this.cache;
    const total = past.length + 1;
    const inputIds = new BigInt64Array(batch);
    const positionIds = new BigInt64Array(batch);
    const attentionMask = new BigInt64Array(batch * total);
    this.running.forEach((sequence, row) => {
      inputIds[row] = BigInt(sequence.nextToken);
      positionIds[row] = BigInt(sequence.cached);
      attentionMask.fill(1n, row * total + (past.length - sequence.cached), (row + 1) * total);
    });
    const result = await this.session.forward({
      batch,
      seqLength: 1,
      inputIds,
      positionIds,
      attentionMask,
      past,
    });
    this.cache = result.present;
    this.running.forEach((sequence, row) => {
      sequence.cached += 1;
      if (!sequence.cancelled) this.advance(sequence, result.lastLogits[row]);
    });
    this.dropFinished();
  }

  /**
   * decodeStep() on a left-aligned batch cache with free columns: row r's
   * tokens are its first `cached` columns, the rest is masked, and the new
   * position's keys and values are written into column `cached` afterwards.
   */
  private async decodeStepAppending(): Promise<void> {
    const batch = this.running.length;
    if (this.running.some((sequence) => sequence.cached >= this.cache.length)) {
      const rows = this.running.map((sequence, row) => this.batchRow(sequence, row));
      this.cache = assembleKvCache(this.session.layout, rows, this.batchTarget(rows));
    }
    const past = this.cache;
    const total = past.length + 1;
    const inputIds = new BigInt64Array(batch);
    const positionIds = new BigInt64Array(batch);
    const attentionMask = new BigInt64Array(batch * total);
    const columns = this.running.map((sequence) => sequence.cached);
    this.running.forEach((sequence, row) => {
      inputIds[row] = BigInt(sequence.nextToken);
      positionIds[row] = BigInt(sequence.cached);
      attentionMask.fill(1n, row * total, row * total + sequence.cached);
      attentionMask[row * total + past.length] = 1n;
    });
    const result = await this.session.forwardNew({
      batch,
      seqLength: 1,
      inputIds,
      positionIds,
      attentionMask,
      past,
    });
    appendKvColumn(this.session.layout, past, result.newKeyValues, columns);
    this.running.forEach((sequence, row) => {
      sequence.cached += 1;
      if (!sequence.cancelled) this.advance(sequence, result.lastLogits[row]);
    });
    this.dropFinished();
  }

  /** Samples the next token of a sequence and emits it; returns true when the sequence is finished. */
  private advance(sequence: Sequence, logits: Float32Array): boolean {
    const id = sequence.sampler.sample(logits);
    sequence.sampler.accept(id);
    sequence.generated.push(id);
    sequence.nextToken = id;
    let finish: FinishReason | undefined;
    let text: string;
    if (this.eosIds.has(id) && !sequence.ignoreEos) {
      finish = 'stop';
      text = this.drain(sequence);
    } else {
      const step = sequence.stops.push(sequence.detokenizer.push(id));
      text = step.text;
      if (step.stopped) finish = 'stop';
      else if (sequence.generated.length >= sequence.maxTokens || sequence.cached + 1 >= this.contextLength) {
        finish = 'length';
        text += this.drain(sequence);
      }
    }
    if (finish) {
      sequence.cancelled = true;
      sequence.detach?.();
      sequence.channel.push({
        text,
        tokenIds: [id],
        finishReason: finish,
        usage: { promptTokens: sequence.promptIds.length, completionTokens: sequence.generated.length },
      });
      sequence.channel.end();
      return true;
    }
    sequence.channel.push({ text, tokenIds: [id] });
    return false;
  }

  /** Text still held by the detokenizer and the stop matcher at the end of a sequence. */
  private drain(sequence: Sequence): string {
    const step = sequence.stops.push(sequence.detokenizer.flush());
    return step.stopped ? step.text : step.text + sequence.stops.flush();
  }

  /** Removes finished and cancelled sequences from the batch, compacting the cache. */
  private dropFinished(): void {
    if (!this.running.some((sequence) => sequence.cancelled)) return;
    const rows = this.running
      .map((sequence, row) => ({ sequence, row }))
      .filter(({ sequence }) => !sequence.cancelled);
    const sources = rows.map(({ sequence, row }) => this.batchRow(sequence, row));
    this.cache = assembleKvCache(this.session.layout, sources, this.batchTarget(sources));
    this.running = rows.map(({ sequence }) => sequence);
  }
}
