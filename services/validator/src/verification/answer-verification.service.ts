import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  ConfigError,
  RedisService,
  counter,
  gauge,
  histogram,
  redisKey,
  rootLogger,
  LATENCY_BUCKETS,
} from '@chattensor/common';
import { ReferenceModel } from '@chattensor/inference';
import type { minerV1 } from '@chattensor/protocol';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';
import { verifyAnswer, type AnswerOrigin, type ReturnedAnswer, type Verdict } from './answer-verifier';
import { ExclusionList } from './exclusion-list.service';

/** Per-miner verification counts kept for the status page (hash fields `<uid>:<hotkey>:<origin>:<outcome>[:<reason>]`). */
const LEDGER_TTL_SECONDS = 7 * 86_400;

/**
 * Holds the reference model in the validator process and verifies miners'
 * answers with it, one at a time: onnxruntime runs the teacher-forced pass on
 * its own threads (VERIFY_THREADS), so the event loop keeps serving jobs, and
 * a bounded queue sheds organic checks (never synthetic ones) when answers
 * arrive faster than they can be verified. A failed answer is counted with
 * its reason and its miner is excluded from user traffic.
 */
@Injectable()
export class AnswerVerification implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'verification' });
  private reference?: ReferenceModel;
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private readonly ledgerKey: string;

  private readonly verifications = counter({
    name: 'chattensor_validator_verifications_total',
    help: 'Verified miner answers by origin, outcome (verified, failed, skipped) and failure reason',
    labelNames: ['uid', 'origin', 'outcome', 'reason'],
  });
  private readonly verifySeconds = histogram({
    name: 'chattensor_validator_verification_seconds',
    help: 'Time to verify one answer with the reference model, queueing excluded',
    buckets: LATENCY_BUCKETS,
  });
  private readonly verifiedTokens = counter({
    name: 'chattensor_validator_verified_tokens_total',
    help: 'Completion tokens checked against the reference model',
  });
  private readonly promptTokens = counter({
    name: 'chattensor_validator_verification_prompt_tokens_total',
    help: 'Prompt and answer tokens of verified answers: run through the reference (computed) or taken from its prompt cache (reused)',
    labelNames: ['part'],
  });
  private readonly queueGauge = gauge({
    name: 'chattensor_validator_verification_queue',
    help: 'Answers waiting for verification',
    collect: (): void => this.queueGauge.set(this.pending),
  });

  constructor(
    @Inject(VALIDATOR_CONFIG) private readonly config: ValidatorConfig,
    private readonly redis: RedisService,
    private readonly exclusions: ExclusionList,
  ) {
    this.ledgerKey = redisKey('validator', 'verification', config.netuid);
  }

  async onApplicationBootstrap(): Promise<void> {
    const { referenceModelDir, referenceQuantize, threads, promptCacheBytes } = this.config.verification;
    if (!referenceModelDir) {
      this.log.warn('REFERENCE_MODEL_DIR is not set: answers are not verified (any miner output is paid)');
      return;
    }
    try {
      this.reference = await ReferenceModel.load(referenceModelDir, {
        quantize: referenceQuantize,
        intraOpThreads: threads,
        prefixCacheBytes: promptCacheBytes,
      });
    } catch (error) {
      throw new ConfigError([{ variable: 'REFERENCE_MODEL_DIR', problem: (error as Error).message }]);
    }
    this.log.info({ model: this.reference.modelName, quantize: referenceQuantize }, 'reference model loaded');
  }

  get enabled(): boolean {
    return this.reference !== undefined;
  }

  get modelName(): string | undefined {
    return this.reference?.modelName;
  }

  /** Whether the answers to a request of this origin are to be verified: every synthetic one, a sampled share of organic requests (all the answers of one: they share a prompt). */
  selects(origin: AnswerOrigin, random: () => number = Math.random): boolean {
    if (!this.reference) return false;
    return origin === 'synthetic' || random() < this.config.verification.organicShare;
  }

  /** Verifies one answer (queued behind the others), records the outcome and excludes a miner that failed. */
  async verify(
    origin: AnswerOrigin,
    miner: { uid: number; hotkey: string },
    request: minerV1.GenerateRequest,
    answer: ReturnedAnswer,
  ): Promise<Verdict> {
    const reference = this.reference;
    if (!reference) return { outcome: 'skipped', why: 'verification is off' };
    let verdict: Verdict;
    if (origin === 'organic' && this.pending >= this.config.verification.queueLimit) {
      verdict = { outcome: 'skipped', why: 'verification queue full' };
    } else {
      this.pending++;
      const run = this.tail.then(async () => {
        const started = performance.now();
        const before = reference.prefixCache;
        try {
          return await verifyAnswer(reference, request, answer, this.config.verification.tolerances);
        } finally {
          this.verifySeconds.observe((performance.now() - started) / 1000);
          const after = reference.prefixCache;
          this.promptTokens.inc({ part: 'reused' }, after.reusedTokens - before.reusedTokens);
          this.promptTokens.inc({ part: 'computed' }, after.computedTokens - before.computedTokens);
        }
      });
      this.tail = run.catch(() => undefined);
      try {
        verdict = await run;
      } catch (error) {
        this.log.warn({ err: error, uid: miner.uid }, 'verification could not run');
        verdict = { outcome: 'skipped', why: `verification error: ${(error as Error).message}` };
      } finally {
        this.pending--;
      }
    }
    await this.record(origin, miner, verdict);
    return verdict;
  }

  private async record(
    origin: AnswerOrigin,
    miner: { uid: number; hotkey: string },
    verdict: Verdict,
  ): Promise<void> {
    const reason = verdict.outcome === 'failed' ? verdict.reason : '';
    this.verifications.inc({ uid: String(miner.uid), origin, outcome: verdict.outcome, reason });
    if (verdict.outcome === 'skipped') return;
    this.verifiedTokens.inc(verdict.tokens);
    const field = `${miner.uid}:${miner.hotkey}:${origin}:${verdict.outcome}${reason ? `:${reason}` : ''}`;
    try {
      await this.redis.client
        .multi()
        .hincrby(this.ledgerKey, field, 1)
        .expire(this.ledgerKey, LEDGER_TTL_SECONDS)
        .exec();
      if (verdict.outcome === 'failed') {
        this.log.warn(
          { uid: miner.uid, hotkey: miner.hotkey, origin, reason, detail: verdict.detail },
          'answer failed verification',
        );
        await this.exclusions.exclude(miner.uid, miner.hotkey);
      }
    } catch (error) {
      this.log.warn({ err: error, uid: miner.uid }, 'verification outcome not stored');
    }
  }

  /** Verification counts per miner (`<uid>:<hotkey>` → `<origin>:<outcome>[:<reason>]` → count), for the status report. */
  async ledger(): Promise<Map<string, Record<string, number>>> {
    const raw = await this.redis.client.hgetall(this.ledgerKey);
    const out = new Map<string, Record<string, number>>();
    for (const [field, value] of Object.entries(raw)) {
      const [uid, hotkey, ...rest] = field.split(':');
      const key = `${uid}:${hotkey}`;
      const entry = out.get(key) ?? {};
      entry[rest.join(':')] = Number(value);
      out.set(key, entry);
    }
    return out;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.tail;
    await this.reference?.close();
  }
}
