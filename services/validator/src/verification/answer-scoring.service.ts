import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { counter, histogram, rootLogger } from '@chattensor/common';
import { AxonProtocol, type Neuron, type minerV1 } from '@chattensor/protocol';
import { verifiedReward, type MinerOutcome } from '@chattensor/scoring';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';
import { ScoreBook } from '../scores/score-book.service';
import type { AnswerOrigin, ReturnedAnswer, Verdict } from './answer-verifier';
import { AnswerVerification } from './answer-verification.service';
import { ExclusionList } from './exclusion-list.service';

/** One miner's answer as observed by the validator: timing for the reward, content for verification. */
export interface ObservedAnswer extends MinerOutcome {
  hotkey: string;
  answer: ReturnedAnswer;
}

/** A fresh observation for a miner about to be called. */
export function observe(neuron: Neuron): ObservedAnswer {
  return {
    uid: neuron.uid,
    hotkey: neuron.hotkey,
    completed: false,
    text: '',
    completionTokens: 0,
    answer: {
      text: '',
      tokenIds: [],
      tokenCount: 0,
      finishReason: '',
      // Only the cluster's gRPC protocol carries token ids; HTTP transports (the SDK's axon) stream text.
      idsFromMiner: (neuron.axon?.protocol ?? AxonProtocol.grpc) === AxonProtocol.grpc,
    },
  };
}

/** Adds one streamed chunk to what was observed of the answer. */
export function observeChunk(observed: ObservedAnswer, chunk: minerV1.GenerateResponse): void {
  const answer = observed.answer;
  answer.text += chunk.textDelta;
  answer.tokenCount += chunk.tokenCount;
  for (const id of chunk.tokenIds) answer.tokenIds.push(id);
  if (chunk.finishReason) answer.finishReason = chunk.finishReason;
  if (chunk.usage)
    answer.usage = { promptTokens: chunk.usage.promptTokens, completionTokens: chunk.usage.completionTokens };
}

export interface ScoredAnswer {
  uid: number;
  hotkey: string;
  reward: number;
  verdict?: Verdict;
}

/**
 * Turns observed answers into rewards, the same way for organic and
 * synthetic traffic: verification gate × speed terms (libs/scoring
 * verifiedReward), recorded in the shared moving averages. Organic jobs hand
 * their answers over and go on (the user already has the answer); shutdown
 * waits for what is still being verified.
 */
@Injectable()
export class AnswerScoring implements OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'answer-scoring' });
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly rewards = histogram({
    name: 'chattensor_validator_answer_reward',
    help: 'Reward of each scored answer, by origin (organic or synthetic)',
    labelNames: ['origin'],
    buckets: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
  });
  private readonly answers = counter({
    name: 'chattensor_validator_scored_answers_total',
    help: 'Scored miner answers by origin and uid',
    labelNames: ['origin', 'uid'],
  });

  constructor(
    @Inject(VALIDATOR_CONFIG) private readonly config: ValidatorConfig,
    private readonly verification: AnswerVerification,
    private readonly scores: ScoreBook,
    private readonly exclusions: ExclusionList,
  ) {}

  /** Scores in the background; errors are logged, never thrown at the caller. */
  settleLater(origin: AnswerOrigin, request: minerV1.GenerateRequest, observed: ObservedAnswer[]): void {
    const done = this.settle(origin, request, observed)
      .catch((error: unknown) => this.log.warn({ err: error }, 'scoring failed'))
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  async settle(
    origin: AnswerOrigin,
    request: minerV1.GenerateRequest,
    observed: ObservedAnswer[],
  ): Promise<ScoredAnswer[]> {
    // Chosen per request, not per answer: the answers of the miners that raced for one request
    // share its prompt, so every answer after the first reuses the prompt's cached keys and values.
    const selected = this.verification.selects(origin);
    return Promise.all(
      observed.map(async (o) => {
        const verdict =
          o.completed && selected
            ? await this.verification.verify(origin, { uid: o.uid, hotkey: o.hotkey }, request, o.answer)
            : undefined;
        // A miner caught cheating earns nothing until its exclusion ends, verified or not:
        // otherwise a cheater that is caught on most answers would still be paid for the rest.
        const excluded =
          this.verification.enabled && (await this.exclusions.excludedUntil(o.uid, o.hotkey)) !== undefined;
        const gate = verdict?.outcome === 'failed' || excluded ? 0 : 1;
        const reward = verifiedReward(
          o,
          gate,
          o.answer.usage?.promptTokens ?? 0,
          this.config.verification.curve,
        );
        this.rewards.observe({ origin }, reward);
        this.answers.inc({ origin, uid: String(o.uid) });
        await this.scores
          .record(o.uid, o.hotkey, reward)
          .catch((error: unknown) => this.log.warn({ err: error, uid: o.uid }, 'score update failed'));
        return { uid: o.uid, hotkey: o.hotkey, reward, verdict };
      }),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}
