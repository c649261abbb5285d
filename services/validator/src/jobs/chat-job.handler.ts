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
import { MinerHealth } from '../miners/miner-health';
import { AdmissionQueue, type AdmissionTicket } from './admission-queue';
import { canContinue, combinedUsage, continuationRequest, type DeliveredPart } from './answer-failover.util';
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
/** How often a job waiting for an admission slot tells its gateway it is still queued. */
const QUEUED_HEARTBEAT_MS = 5000;

/** How one race of miners for an answer ended. */
interface RaceResult {
  outcomes: ObservedAnswer[];
  /** The answer's end frame went out. */
  finished: boolean;
  /** What the race's winner streamed before it failed (empty when no miner produced a token). */
  delivered: DeliveredPart;
  /** Why it did not finish. */
  error?: AppError;
  /** Miners whose call failed (not those cancelled by the validator). */
  failed: SelectedMiner[];
  /** The miner whose tokens went to the client. */
  winner?: SelectedMiner;
}

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
    collect: (): void => this.inFlight.set(this.admission.running),
  });
  private readonly waitingGauge = gauge({
    name: 'chattensor_validator_num_requests_waiting',
    help: 'Chat jobs waiting in this replica for an admission slot',
    collect: (): void => this.waitingGauge.set(this.admission.queued),
  });
  private readonly failovers = counter({
    name: 'chattensor_validator_failovers_total',
    help: 'Answers moved to other miners, by when the failed miner stopped (before or after its first token)',
    labelNames: ['stage'],
  });
  private readonly queueTime = histogram({
    name: 'chattensor_validator_request_queue_time_seconds',
    help: 'Time chat jobs waited in the admission queue for a slot (0 when one was free)',
    buckets: LATENCY_BUCKETS,
  });
  private readonly admission: AdmissionQueue;

  constructor(
    @Inject(VALIDATOR_CONFIG) private readonly config: ValidatorConfig,
    private readonly nats: NatsService,
    private readonly selector: MinerSelector,
    private readonly client: MinerClient,
    private readonly identity: ValidatorIdentity,
    private readonly health: MinerHealth,
    private readonly scoring: AnswerScoring,
  ) {
    this.admission = new AdmissionQueue({
      slots: config.query.maxConcurrentJobs,
      maxWaiting: config.admission.maxQueuedJobs,
      maxWaitMs: config.admission.queueTimeoutMs,
    });
  }

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
    const abort = new AbortController();
    const ticket = this.admission.enter(abort.signal, job.deadline);
    if (!ticket) {
      this.jobsTotal.inc({ outcome: 'overloaded' });
      send({
        type: 'error',
        code: 'overloaded',
        message: 'all validators are busy and their queues are full',
        retryAfterSeconds: this.admission.retryAfterSeconds(),
      });
      return;
    }
    this.running.set(job.jobId, abort);
    send({ type: 'accepted', validator: this.identity.hotkey.ss58Address });
    // The slot is the client's: it goes to the next job once every answer has ended, while the
    // slower miners finish (bounded) and the scores are written.
    let ended = 0;
    const sendAndRelease: Send = (frame) => {
      send(frame);
      if (frame.type === 'end' && ++ended === job.n) ticket.release();
    };
    const done = runWithCorrelation(correlationId, async () => {
      await this.admitted(ticket, send);
      await this.run(job, sendAndRelease, abort.signal);
    })
      .catch((error: unknown) => {
        const appError = error instanceof AppError ? error : undefined;
        if (!appError) this.log.error({ err: error, jobId: job.jobId }, 'chat job failed');
        this.jobsTotal.inc({ outcome: appError?.code ?? 'internal' });
        send({
          type: 'error',
          code: appError?.code ?? 'internal',
          message: appError?.message ?? 'internal error',
          retryAfterSeconds: appError?.retryAfterSeconds,
          reason: appError?.reason,
          param: appError?.param,
        });
      })
      .finally(() => {
        ticket.release();
        this.running.delete(job.jobId);
        this.settled.delete(done);
      });
    this.settled.add(done);
  }

  /** Waits for the job's admission slot, telling the gateway its place in the queue meanwhile. */
  private async admitted(ticket: AdmissionTicket, send: Send): Promise<void> {
    const heartbeat = () => {
      const position = ticket.position();
      if (position > 0) send({ type: 'queued', position });
    };
    heartbeat();
    const timer = setInterval(heartbeat, QUEUED_HEARTBEAT_MS);
    const started = performance.now();
    try {
      const result = await ticket.granted;
      this.queueTime.observe((performance.now() - started) / 1000);
      if (result === 'aborted') throw new AppError(ErrorCode.Cancelled, 'cancelled while queued');
      if (result === 'closed')
        throw new AppError(ErrorCode.Unavailable, 'validator is shutting down', { retryAfterSeconds: 1 });
      if (result === 'expired')
        throw new AppError(
          ErrorCode.Overloaded,
          'all validators are busy; the job waited too long for a slot',
          {
            retryAfterSeconds: this.admission.retryAfterSeconds(),
          },
        );
    } finally {
      clearInterval(timer);
    }
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
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    this.jobsTotal.inc({ outcome: signal.aborted ? 'cancelled' : 'ok' });
  }

  /**
   * One answer, failing over: races `group`; when no miner produces a token
   * it asks other miners, and when the streaming miner fails after its first
   * tokens, other miners continue the same answer from the text already sent
   * (as the assistant's prefix), so the client sees one uninterrupted stream.
   * An invalid request is final. Bounded by MINER_FAILOVERS rounds and the
   * job's deadline. Resolves with every queried miner's outcome.
   */
  private async answer(
    job: ChatJob,
    index: number,
    group: SelectedMiner[],
    request: minerV1.GenerateRequest,
    send: Send,
    jobSignal: AbortSignal,
  ): Promise<ObservedAnswer[]> {
    const outcomes: ObservedAnswer[] = [];
    const failed = new Set<number>();
    const delivered: DeliveredPart = { text: '', tokens: 0 };
    let lastWinner: SelectedMiner | undefined;
    for (let round = 0; ; round++) {
      const attempt = continuationRequest(request, delivered);
      if (!attempt) {
        // The failed miner had already produced every allowed token: the answer is complete.
        send({
          type: 'end',
          index,
          finishReason: 'length',
          usage: { promptTokens: 0, completionTokens: delivered.tokens },
          miner: { uid: lastWinner!.neuron.uid, hotkey: lastWinner!.neuron.hotkey, score: lastWinner!.score },
          model: job.model,
        });
        return outcomes;
      }
      const result = await this.race(job, index, group, attempt, send, jobSignal, delivered);
      outcomes.push(...result.outcomes);
      // An invalid request is nobody's fault among the miners: it scores no one. Each round is
      // verified against the request it asked (a continuation's prompt holds the delivered text).
      if (result.error?.code !== ErrorCode.InvalidRequest)
        this.scoring.settleLater('organic', attempt, result.outcomes);
      if (result.finished || jobSignal.aborted) return outcomes;
      const error =
        result.error ?? new AppError(ErrorCode.Unavailable, 'no miner answered', { retryAfterSeconds: 2 });
      if (error.code === ErrorCode.InvalidRequest) throw error;
      for (const miner of result.failed) failed.add(miner.neuron.uid);
      if (result.delivered.text) lastWinner = result.winner;
      delivered.text += result.delivered.text;
      delivered.tokens += result.delivered.tokens;
      const next =
        round < this.config.query.failovers && Date.now() < job.deadline
          ? await this.selector.select(
              this.config.query.minersPerRequest,
              job.model,
              Math.random,
              (n) => !failed.has(n.uid) && (delivered.text === '' || canContinue(n)),
            )
          : [];
      if (next.length === 0) {
        if (delivered.text)
          throw new AppError(ErrorCode.Unavailable, `the answer's miner failed mid-answer: ${error.message}`);
        throw error;
      }
      this.failovers.inc({ stage: delivered.text ? 'mid_answer' : 'before_first_token' });
      this.log.info(
        {
          jobId: job.jobId,
          index,
          failed: [...failed],
          next: next.map((m) => m.neuron.uid),
          resumedAt: delivered.tokens,
        },
        delivered.text
          ? 'miner failed mid-answer; continuing on another'
          : 'no miner answered; asking others',
      );
      group = next;
    }
  }

  /** Races `group` for answer `index` once; resolves with every miner's outcome once all are settled. */
  private async race(
    job: ChatJob,
    index: number,
    group: SelectedMiner[],
    request: minerV1.GenerateRequest,
    send: Send,
    jobSignal: AbortSignal,
    resumed: DeliveredPart,
  ): Promise<RaceResult> {
    const timeoutMs = Math.max(1000, job.deadline - Date.now());
    const calls = group.map((miner) => ({
      miner,
      call: this.client.generate(miner.neuron, request, { timeoutMs, correlationId: job.jobId }),
    }));
    const cancelAll = () => calls.forEach(({ call }) => call.cancel());
    jobSignal.addEventListener('abort', cancelAll);
    let winner: SelectedMiner | undefined;
    let lastError: AppError | undefined;
    let invalidError: AppError | undefined;
    let winnerError: AppError | undefined;
    let finished = false;
    let stragglerTimer: NodeJS.Timeout | undefined;
    const failed: SelectedMiner[] = [];
    /** What the client has of the winner's answer: its text, and the tokens that text covers (held-back tokens are not in it). */
    const sent: DeliveredPart = { text: '', tokens: 0 };

    const consume = async ({ miner, call }: (typeof calls)[number]): Promise<ObservedAnswer> => {
      const started = performance.now();
      const outcome = observe(miner.neuron);
      let silent = false;
      const firstTokenTimer = setTimeout(() => {
        silent = true;
        call.cancel();
      }, this.config.query.firstTokenTimeoutMs);
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
            if (winner === miner && chunk.textDelta) {
              send({ type: 'delta', index, text: chunk.textDelta, tokens: chunk.tokenCount, miner: ref });
              sent.text += chunk.textDelta;
              sent.tokens = outcome.completionTokens;
            }
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
        if (outcome.completed) this.health.succeeded(miner.neuron);
        if (winner === miner && !outcome.completed && !jobSignal.aborted) {
          // A stream that ends without a finish reason was cut: resume the answer elsewhere.
          winnerError = new AppError(
            ErrorCode.Unavailable,
            `miner ${miner.neuron.uid} ended its answer without finishing`,
          );
          failed.push(miner);
          cancelAll();
        } else if (winner === miner) {
          finished = true;
          send({
            type: 'end',
            index,
            finishReason: finishReason === 'length' ? 'length' : 'stop',
            usage: combinedUsage(
              {
                promptTokens: usage?.promptTokens ?? 0,
                completionTokens: usage?.completionTokens ?? outcome.completionTokens,
              },
              resumed,
            ),
            miner: { ...ref, score: miner.score },
            model: model || job.model,
          });
          // The user has the answer; the others only run on for scoring, and not for long.
          stragglerTimer = setTimeout(cancelAll, STRAGGLER_GRACE_MS);
        }
      } catch (error) {
        let appError = error instanceof AppError ? error : new AppError(ErrorCode.Internal, String(error));
        if (silent && appError.code === ErrorCode.Cancelled)
          appError = new AppError(ErrorCode.Timeout, `miner ${miner.neuron.uid} produced no token in time`);
        this.minerRequests.inc({ uid: String(miner.neuron.uid), outcome: appError.code });
        if (appError.code !== ErrorCode.Cancelled) {
          lastError = appError;
          if (appError.code === ErrorCode.InvalidRequest) invalidError = appError;
          failed.push(miner);
          this.health.failed(miner.neuron, appError.code);
        }
        if (winner === miner && !jobSignal.aborted && !finished) {
          // The others' answers differ from what the client has: the answer goes on elsewhere.
          winnerError = appError;
          cancelAll();
        }
      } finally {
        clearTimeout(firstTokenTimer);
      }
      return outcome;
    };

    try {
      const settled = await Promise.all(calls.map(consume));
      if (finished || jobSignal.aborted)
        return { outcomes: settled, finished, delivered: { text: '', tokens: 0 }, failed, winner };
      let error = winnerError ?? lastError;
      if (!winner && invalidError) error = invalidError;
      else if (!winner && lastError?.code === ErrorCode.Overloaded)
        error = new AppError(ErrorCode.Overloaded, 'all selected miners are busy', { retryAfterSeconds: 1 });
      else if (!winner)
        error = new AppError(
          ErrorCode.Unavailable,
          `no miner answered${lastError ? `: ${lastError.message}` : ''}`,
          {
            retryAfterSeconds: 2,
          },
        );
      return {
        outcomes: settled,
        finished: false,
        delivered: sent,
        error,
        failed,
        winner,
      };
    } finally {
      clearTimeout(stragglerTimer);
      jobSignal.removeEventListener('abort', cancelAll);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    // Stop taking jobs, let running ones finish (the NATS drain happens after this hook).
    this.draining = true;
    this.jobsSub?.unsubscribe();
    this.admission.close();
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
