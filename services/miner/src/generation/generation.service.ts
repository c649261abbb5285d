import type { Gauge } from 'prom-client';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  AppError,
  ErrorCode,
  LATENCY_BUCKETS,
  ReadinessRegistry,
  rootLogger,
  counter,
  gauge,
  histogram,
} from '@chattensor/common';
import {
  importGgufCached,
  InferenceEngine,
  InvalidRequestError,
  QueueFullError,
  type ChatTurn,
  type GenerationChunk,
  type SamplingOptions,
} from '@chattensor/inference';
import { MINER_CONFIG, type MinerConfig } from '../config/miner.config';

const METRIC = 'chattensor_miner_';

/**
 * The miner's model: loaded and warmed up before readiness turns true, with
 * vLLM-style metrics around every generation.
 */
@Injectable()
export class GenerationService implements OnModuleInit, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'generation' });
  private engine?: InferenceEngine;
  private warm = false;
  private closing = false;

  private readonly running: Gauge = gauge({
    name: `${METRIC}num_requests_running`,
    help: 'Requests currently being generated',
    // Sampled at scrape time, so the value is exact whenever Prometheus looks.
    collect: (): void => this.running.set(this.engine?.stats().running ?? 0),
  });
  private readonly waiting: Gauge = gauge({
    name: `${METRIC}num_requests_waiting`,
    help: 'Requests queued for a generation slot',
    collect: (): void => this.waiting.set(this.engine?.stats().waiting ?? 0),
  });
  private readonly ttft = histogram({
    name: `${METRIC}time_to_first_token_seconds`,
    help: 'Time from request to first generated token',
    buckets: LATENCY_BUCKETS,
  });
  private readonly itl = histogram({
    name: `${METRIC}inter_token_latency_seconds`,
    help: 'Time between successive generated tokens',
    buckets: LATENCY_BUCKETS,
  });
  private readonly e2e = histogram({
    name: `${METRIC}e2e_request_latency_seconds`,
    help: 'Time from request to last token',
    buckets: LATENCY_BUCKETS,
  });
  private readonly generationTokens = counter({
    name: `${METRIC}generation_tokens_total`,
    help: 'Tokens generated',
  });
  private readonly promptTokens = counter({
    name: `${METRIC}prompt_tokens_total`,
    help: 'Prompt tokens processed',
  });
  private readonly requests = counter({
    name: `${METRIC}requests_total`,
    help: 'Generation requests by outcome (ok, cancelled, rejected, displaced, invalid, error)',
    labelNames: ['outcome'],
  });

  constructor(
    @Inject(MINER_CONFIG) private readonly config: MinerConfig,
    readiness: ReadinessRegistry,
  ) {
    readiness.register('model', () => (this.warm ? true : 'model is loading'));
  }

  async onModuleInit(): Promise<void> {
    const started = Date.now();
    const { device, quantize, maxBatchSize, maxQueue, intraOpThreads, gguf } = this.config.model;
    const dir = gguf
      ? await importGgufCached(gguf.path, gguf.cacheDir, (line) => this.log.info(line))
      : this.config.model.dir;
    this.engine = await InferenceEngine.load(dir, {
      device,
      quantize,
      maxBatchSize,
      maxQueue,
      intraOpThreads,
    });
    await this.engine.warmup();
    this.warm = true;
    this.log.info(
      { model: this.engine.modelName, device, ms: Date.now() - started },
      'model loaded and warmed up',
    );
  }

  get modelName(): string {
    return this.engine?.modelName ?? 'loading';
  }

  get ready(): boolean {
    return this.warm;
  }

  /**
   * Streams one generation. `priority` is the caller's rank for a batch slot
   * when requests wait (its stake; see CallerPolicy). Throws
   * AppError(Overloaded) at once when the queue is full of requests of at
   * least this priority, and later, before any chunk, when a higher-priority
   * request displaces this one from the queue; aborting `signal` stops the
   * generation within one step.
   */
  async *generate(
    messages: ChatTurn[],
    sampling: SamplingOptions,
    signal: AbortSignal,
    priority = 0,
  ): AsyncGenerator<GenerationChunk> {
    if (!this.engine || !this.warm) throw new AppError(ErrorCode.Unavailable, 'model is still loading');
    const started = process.hrtime.bigint();
    let last = started;
    let first = true;
    let outcome = 'error';
    let queued = false;
    try {
      const stream = this.engine.generate(messages, sampling, signal, priority);
      // From here a QueueFullError means a higher-priority request took this one's place.
      queued = true;
      for await (const chunk of stream) {
        const now = process.hrtime.bigint();
        if (chunk.tokenIds.length > 0) {
          if (first) {
            this.ttft.observe(Number(now - started) / 1e9);
            // Per request (the correlation id is the validator's job id): bench:load pairs it with the client's TTFT.
            this.log.debug({ ttftMs: Number(now - started) / 1e6 }, 'first token');
            first = false;
          } else {
            const perToken = Number(now - last) / 1e9 / chunk.tokenIds.length;
            for (let i = 0; i < chunk.tokenIds.length; i++) this.itl.observe(perToken);
          }
          last = now;
          this.generationTokens.inc(chunk.tokenIds.length);
        }
        if (chunk.usage) this.promptTokens.inc(chunk.usage.promptTokens);
        yield chunk;
      }
      outcome = signal.aborted ? 'cancelled' : 'ok';
      this.e2e.observe(Number(process.hrtime.bigint() - started) / 1e9);
    } catch (error) {
      if (error instanceof QueueFullError) {
        outcome = queued ? 'displaced' : 'rejected';
        throw new AppError(
          ErrorCode.Overloaded,
          queued ? 'miner queue is full; a caller with more stake took this place' : 'miner queue is full',
          { retryAfterSeconds: 1 },
        );
      }
      if (signal.aborted) {
        outcome = 'cancelled';
        throw new AppError(ErrorCode.Cancelled, 'generation cancelled');
      }
      if (error instanceof InvalidRequestError) {
        // The engine fails everything with InvalidRequestError once closed: that is the miner going away, not the caller's fault.
        if (this.closing) throw new AppError(ErrorCode.Unavailable, 'miner is shutting down', { retryAfterSeconds: 1 });
        outcome = 'invalid';
        throw new AppError(ErrorCode.InvalidRequest, error.message, {
          reason: error.reason,
          param: error.reason === 'context_length_exceeded' ? 'messages' : undefined,
        });
      }
      throw error;
    } finally {
      this.requests.inc({ outcome });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    await this.engine?.close();
  }
}
