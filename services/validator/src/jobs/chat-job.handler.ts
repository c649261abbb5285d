import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { headers as natsHeaders, type Msg, type Subscription } from 'nats';
import {
  AppError,
  CORRELATION_HEADER,
  ErrorCode,
  LATENCY_BUCKETS,
  NatsService,
  rootLogger,
  runWithCorrelation,
  counter,
  gauge,
  histogram,
} from '@chattensor/common';
import {
  QueueGroups,
  Subjects,
  chatJobSchema,
  decodeJson,
  encodeJson,
  type ChatFrame,
  type ChatJob,
  type minerV1,
} from '@chattensor/protocol';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';
import { MinerClient } from '../miners/miner-client';
import { MinerSelector, type SelectedMiner } from '../miners/miner-selector';
import { ValidatorIdentity } from '../identity/validator-identity';
import {
  AnswerScoring,
  observe,
  observeChunk,
  type ObservedAnswer,
} from '../verification/answer-scoring.service';

type Send = (frame: ChatFrame) => void;

/** How long slower miners may keep going after the winner finished, for scoring. */
const STRAGGLER_GRACE_MS = 5000;
/** Tolerance for the gateway's and the validator's clocks disagreeing about `acceptBy`. */
const ACCEPT_CLOCK_SKEW_MS = 2000;
const REMEMBER_CANCELS_MS = 60_000;

/**
 * Takes chat jobs from the `validators` queue group, races several miners per
 * answer, streams the first miner to produce a token back to the gateway,
 * lets the others finish (bounded) and scores them all.
 */
@Injectable()
export class ChatJobHandler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'chat-jobs' });
  private readonly running = new Map<string, AbortController>();
  /** Cancels that arrived before their job (the job may still be queued in NATS), by arrival time. */
  private readonly cancelled = new Map<string, number>();
  private readonly settled = new Set<Promise<void>>();
  private jobsSub?: Subscription;
  private cancelSub?: Subscription;
  private draining = false;

  private readonly jobsTotal = counter({
    name: 'chattensor_validator_jobs_total',
    help: 'Chat jobs by outcome',
    labelNames: ['outcome'],
  });
  private readonly minerRequests = counter({
    name: 'chattensor_validator_miner_requests_total',
    help: 'Miner queries by uid and outcome',
    labelNames: ['uid', 'outcome'],
  });
  private readonly minerTtft = histogram({
    name: 'chattensor_validator_miner_time_to_first_token_seconds',
    help: 'Time to first token of miner answers, as seen by the validator',
    labelNames: ['uid'],
    buckets: LATENCY_BUCKETS,
  });
  private readonly inFlight = gauge({
    name: 'chattensor_validator_num_requests_running',
    help: 'Chat jobs this replica is running',
    collect: (): void => this.inFlight.set(this.running.size),
  });

  constructor(
    @Inject(VALIDATOR_CONFIG) private readonly config: ValidatorConfig,
    private readonly nats: NatsService,
    private readonly selector: MinerSelector,
    private readonly client: MinerClient,
    private readonly identity: ValidatorIdentity,
    private readonly scoring: AnswerScoring,
  ) {}

  onApplicationBootstrap(): void {
    const nc = this.nats.nc;
    this.jobsSub = nc.subscribe(Subjects.chatCompletions, {
      queue: QueueGroups.validators,
      callback: (error, message) => {
        if (!error) this.accept(message);
      },
    });
    this.cancelSub = nc.subscribe(Subjects.chatCancelAll, {
      callback: (error, message) => {
        if (error) return;
        const jobId = message.subject.slice(Subjects.chatCancel('').length);
        const job = this.running.get(jobId);
        if (job) job.abort();
        else this.rememberCancel(jobId);
      },
    });
  }

  private accept(message: Msg): void {
    if (!message.reply) return;
    const replyTo = message.reply;
    const correlationId = message.headers?.get(CORRELATION_HEADER) || undefined;
    const headers = natsHeaders();
    if (correlationId) headers.set(CORRELATION_HEADER, correlationId);
    const send: Send = (frame) => {
      if (!this.nats.nc.isClosed()) this.nats.nc.publish(replyTo, encodeJson(frame), { headers });
    };
    const decoded = decodeJson(chatJobSchema, message.data);
    if (!decoded.ok) {
      this.jobsTotal.inc({ outcome: 'invalid' });
      send({ type: 'error', code: 'invalid_request', message: decoded.error });
      return;
    }
    const job = decoded.value;
    // The gateway has already answered the client (cancelled, or 503 after its
    // accept timeout): running the job would only burn miner time.
    if (
      this.cancelled.has(job.jobId) ||
      (job.acceptBy !== undefined && Date.now() > job.acceptBy + ACCEPT_CLOCK_SKEW_MS)
    ) {
      this.jobsTotal.inc({ outcome: 'expired' });
      return;
    }
    if (this.draining) {
      send({
        type: 'error',
        code: 'unavailable',
        message: 'validator is shutting down',
        retryAfterSeconds: 1,
      });
      return;
    }
    if (this.running.size >= this.config.query.maxConcurrentJobs) {
      this.jobsTotal.inc({ outcome: 'overloaded' });
      send({ type: 'error', code: 'overloaded', message: 'all validators are busy', retryAfterSeconds: 1 });
      return;
    }
    const abort = new AbortController();
    this.running.set(job.jobId, abort);
    send({ type: 'accepted', validator: this.identity.hotkey.ss58Address });
    const done = runWithCorrelation(correlationId, () => this.run(job, send, abort.signal))
      .catch((error: unknown) => {
        const appError = error instanceof AppError ? error : undefined;
        if (!appError) this.log.error({ err: error, jobId: job.jobId }, 'chat job failed');
        this.jobsTotal.inc({ outcome: appError?.code ?? 'internal' });
        send({
          type: 'error',
          code: appError?.code ?? 'internal',
          message: appError?.message ?? 'internal error',
          retryAfterSeconds: appError?.retryAfterSeconds,
        });
      })
      .finally(() => {
        this.running.delete(job.jobId);
        this.settled.delete(done);
      });
    this.settled.add(done);
  }

  private rememberCancel(jobId: string): void {
    const now = Date.now();
    this.cancelled.set(jobId, now);
    // Bounded: forget cancels older than a minute (their jobs are long expired).
    for (const [id, at] of this.cancelled) {
      if (now - at < REMEMBER_CANCELS_MS && this.cancelled.size <= 10_000) break;
      this.cancelled.delete(id);
    }
  }

  private async run(job: ChatJob, send: Send, signal: AbortSignal): Promise<void> {
    const perAnswer = this.config.query.minersPerRequest;
    const selected = await this.selector.select(job.n * perAnswer, job.model);
    if (selected.length === 0)
      throw new AppError(ErrorCode.Unavailable, 'no miner is available for this model', {
        retryAfterSeconds: 2,
      });
    const groups = groupMiners(selected, job.n, perAnswer);
    const request: minerV1.GenerateRequest = {
      requestId: job.jobId,
      messages: job.messages,
      model: job.model,
      sampling: {
        maxTokens: job.sampling.maxTokens,
        temperature: job.sampling.temperature,
        topP: job.sampling.topP,
        topK: job.sampling.topK ?? 0,
        seed: job.sampling.seed === undefined ? undefined : BigInt(job.sampling.seed),
        stop: job.sampling.stop,
        presencePenalty: job.sampling.presencePenalty,
        frequencyPenalty: job.sampling.frequencyPenalty,
        minP: 0,
        repetitionPenalty: 0,
      },
    };
    const results = await Promise.allSettled(
      groups.map((group, index) => this.answer(job, index, group, request, send, signal)),
    );
    const outcomes = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    this.scoring.settleLater('organic', request, outcomes);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    this.jobsTotal.inc({ outcome: signal.aborted ? 'cancelled' : 'ok' });
  }

  /** Races `group` for answer `index`; resolves with every miner's outcome once all are settled. */
  private async answer(
    job: ChatJob,
    index: number,
    group: SelectedMiner[],
    request: minerV1.GenerateRequest,
    send: Send,
    jobSignal: AbortSignal,
  ): Promise<ObservedAnswer[]> {
    const timeoutMs = Math.max(1000, job.deadline - Date.now());
    const calls = group.map((miner) => ({
      miner,
      call: this.client.generate(miner.neuron, request, { timeoutMs, correlationId: job.jobId }),
    }));
    const cancelAll = () => calls.forEach(({ call }) => call.cancel());
    jobSignal.addEventListener('abort', cancelAll);
    let winner: SelectedMiner | undefined;
    let lastError: AppError | undefined;
    let stragglerTimer: NodeJS.Timeout | undefined;

    const consume = async ({ miner, call }: (typeof calls)[number]): Promise<ObservedAnswer> => {
      const started = performance.now();
      const outcome = observe(miner.neuron);
      const firstTokenTimer = setTimeout(() => call.cancel(), this.config.query.firstTokenTimeoutMs);
      let usage: minerV1.Usage | undefined;
      let finishReason = '';
      let model = request.model;
      const ref = { uid: miner.neuron.uid, hotkey: miner.neuron.hotkey };
      try {
        for await (const chunk of call.responses) {
          observeChunk(outcome, chunk);
          if (chunk.tokenCount > 0 || chunk.textDelta) {
            if (outcome.timeToFirstToken === undefined) {
              clearTimeout(firstTokenTimer);
              outcome.timeToFirstToken = (performance.now() - started) / 1000;
              this.minerTtft.observe({ uid: String(miner.neuron.uid) }, outcome.timeToFirstToken);
              winner ??= miner;
            }
            outcome.text += chunk.textDelta;
            outcome.completionTokens += chunk.tokenCount;
            if (winner === miner && chunk.textDelta)
              send({ type: 'delta', index, text: chunk.textDelta, tokens: chunk.tokenCount, miner: ref });
          }
          if (chunk.model) model = chunk.model;
          if (chunk.usage) usage = chunk.usage;
          if (chunk.finishReason) finishReason = chunk.finishReason;
        }
        outcome.completed = finishReason !== '';
        outcome.duration = (performance.now() - started) / 1000;
        this.minerRequests.inc({
          uid: String(miner.neuron.uid),
          outcome: outcome.completed ? 'ok' : 'incomplete',
        });
        if (winner === miner) {
          send({
            type: 'end',
            index,
            finishReason: finishReason === 'length' ? 'length' : 'stop',
            usage: {
              promptTokens: usage?.promptTokens ?? 0,
              completionTokens: usage?.completionTokens ?? outcome.completionTokens,
            },
            miner: { ...ref, score: miner.score },
            model: model || job.model,
          });
          // The user has the answer; the others only run on for scoring, and not for long.
          stragglerTimer = setTimeout(cancelAll, STRAGGLER_GRACE_MS);
        }
      } catch (error) {
        const appError = error instanceof AppError ? error : new AppError(ErrorCode.Internal, String(error));
        this.minerRequests.inc({ uid: String(miner.neuron.uid), outcome: appError.code });
        if (appError.code !== ErrorCode.Cancelled) lastError = appError;
        if (winner === miner && !jobSignal.aborted) {
          cancelAll();
          throw new AppError(
            ErrorCode.Unavailable,
            `miner ${miner.neuron.uid} failed mid-answer: ${appError.message}`,
          );
        }
      } finally {
        clearTimeout(firstTokenTimer);
      }
      return outcome;
    };

    try {
      const settled = await Promise.allSettled(calls.map(consume));
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      if (!winner && !jobSignal.aborted) {
        if (lastError?.code === ErrorCode.Overloaded)
          throw new AppError(ErrorCode.Overloaded, 'all selected miners are busy', { retryAfterSeconds: 1 });
        throw new AppError(
          ErrorCode.Unavailable,
          `no miner answered${lastError ? `: ${lastError.message}` : ''}`,
          { retryAfterSeconds: 2 },
        );
      }
      return settled.map((s) => (s as PromiseFulfilledResult<ObservedAnswer>).value);
    } finally {
      clearTimeout(stragglerTimer);
      jobSignal.removeEventListener('abort', cancelAll);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    // Stop taking jobs, let running ones finish (the NATS drain happens after this hook).
    this.draining = true;
    this.jobsSub?.unsubscribe();
    const deadline = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
    await Promise.race([Promise.allSettled([...this.settled]), deadline]);
    for (const abort of this.running.values()) abort.abort();
    this.cancelSub?.unsubscribe();
  }
}

/**
 * Splits the selected miners between the `n` answers so that different
 * answers come from different miners whenever there are at least `n`: each
 * answer gets an equal share (at most `perAnswer`); with fewer miners than
 * answers, miners are reused round-robin.
 */
export function groupMiners<T>(selected: T[], n: number, perAnswer: number): T[][] {
  if (selected.length < n) return Array.from({ length: n }, (_, i) => [selected[i % selected.length]]);
  const size = Math.max(1, Math.min(perAnswer, Math.floor(selected.length / n)));
  return Array.from({ length: n }, (_, i) => selected.slice(i * size, (i + 1) * size));
}
