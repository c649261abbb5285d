import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { AppError, ErrorCode, counter, rootLogger } from '@chattensor/common';
import { MetagraphWatcher, type Neuron } from '@chattensor/protocol';
import { VALIDATOR_CONFIG } from '../config/config.token';
import type { ValidatorConfig } from '../config/validator.config';
import { MinerClient } from '../miners/miner-client';
import { MinerSelector } from '../miners/miner-selector';
import { WeightSetter } from '../weights/weight-setter.service';
import {
  AnswerScoring,
  observe,
  observeChunk,
  type ScoredAnswer,
} from '../verification/answer-scoring.service';
import { AnswerVerification } from '../verification/answer-verification.service';
import { QuestionBank, type SyntheticQuestion } from '@chattensor/scoring';

/** Seconds of a block on Subtensor, to turn the subnet's tempo (blocks) into time. */
const BLOCK_SECONDS = 12;
const QUESTION_TIMEOUT_MS = 60_000;

/**
 * Keeps every serving miner measured when no user is chatting: the leader
 * replica asks each miner SYNTHETIC_PER_MINER questions per tempo, spread
 * evenly over it, with varied prompts and decoding settings (QuestionBank).
 * Every synthetic answer is verified and scored with the same reward as
 * organic ones, and counted apart (origin `synthetic`). Miners excluded from
 * user traffic still get synthetic questions.
 */
@Injectable()
export class SyntheticTraffic implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'synthetic' });
  private readonly bank: QuestionBank;
  private timer?: NodeJS.Timeout;
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopped = false;
  private readonly questions = counter({
    name: 'chattensor_validator_synthetic_questions_total',
    help: 'Synthetic questions sent to miners, by outcome (answered, failed, skipped_busy) and decoding kind',
    labelNames: ['outcome', 'kind'],
  });

  constructor(
    @Inject(VALIDATOR_CONFIG) private readonly config: ValidatorConfig,
    private readonly metagraph: MetagraphWatcher,
    private readonly selector: MinerSelector,
    private readonly client: MinerClient,
    private readonly scoring: AnswerScoring,
    private readonly verification: AnswerVerification,
    private readonly leader: WeightSetter,
  ) {
    this.bank = new QuestionBank(Math.random, config.verification.synthetic.maxTokens);
  }

  onApplicationBootstrap(): void {
    if (this.config.verification.synthetic.perMiner === 0) return;
    if (!this.verification.enabled)
      this.log.warn(
        'synthetic traffic runs without verification: answers are only timed (set REFERENCE_MODEL_DIR)',
      );
    this.schedule();
  }

  /** Seconds of one tempo: SYNTHETIC_TEMPO_SECONDS, else the subnet's tempo, else the weights interval. */
  tempoSeconds(): number {
    const configured = this.config.verification.synthetic.tempoSeconds;
    if (configured > 0) return configured;
    const tempo = this.metagraph.current()?.hyperparameters.tempo;
    if (this.config.chainMode === 'subtensor' && tempo && tempo > 0) return (tempo + 1) * BLOCK_SECONDS;
    return this.config.scoring.weightsIntervalSeconds || 60;
  }

  private schedule(): void {
    if (this.stopped) return;
    const intervalMs = (this.tempoSeconds() * 1000) / this.config.verification.synthetic.perMiner;
    this.timer = setTimeout(() => {
      if (this.leader.leading) this.round();
      this.schedule();
    }, intervalMs);
    this.timer.unref();
  }

  /** One question to every serving miner that is not still answering the previous one. */
  round(): void {
    for (const neuron of this.selector.candidates()) {
      const question = this.bank.question();
      const key = `${neuron.uid}:${neuron.hotkey}`;
      if (this.busy.has(key)) {
        this.questions.inc({ outcome: 'skipped_busy', kind: question.kind });
        continue;
      }
      this.busy.add(key);
      const done = this.ask(neuron, question)
        .then((scored) =>
          this.questions.inc({ outcome: scored ? 'answered' : 'failed', kind: question.kind }),
        )
        .catch((error: unknown) =>
          this.log.warn({ err: error, uid: neuron.uid }, 'synthetic question failed'),
        )
        .finally(() => {
          this.busy.delete(key);
          this.inFlight.delete(done);
        });
      this.inFlight.add(done);
    }
  }

  /** Asks one miner one question and scores the answer; undefined when the miner did not answer. */
  async ask(neuron: Neuron, question: SyntheticQuestion): Promise<ScoredAnswer | undefined> {
    const observed = observe(neuron);
    const started = performance.now();
    let answered = true;
    try {
      const call = this.client.generate(neuron, question.request, { timeoutMs: QUESTION_TIMEOUT_MS });
      for await (const chunk of call.responses) {
        observeChunk(observed, chunk);
        if ((chunk.tokenCount > 0 || chunk.textDelta) && observed.timeToFirstToken === undefined)
          observed.timeToFirstToken = (performance.now() - started) / 1000;
        observed.text += chunk.textDelta;
        observed.completionTokens += chunk.tokenCount;
      }
      observed.completed = observed.answer.finishReason !== '';
      observed.duration = (performance.now() - started) / 1000;
    } catch (error) {
      answered = false;
      const code = error instanceof AppError ? error.code : ErrorCode.Internal;
      this.log.debug({ uid: neuron.uid, code }, 'miner did not answer a synthetic question');
    }
    const [scored] = await this.scoring.settle('synthetic', question.request, [observed]);
    return answered ? scored : undefined;
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }
}
