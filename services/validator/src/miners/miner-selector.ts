import { Injectable } from '@nestjs/common';
import { ANY_MODEL, MetagraphWatcher, type Neuron } from '@chattensor/protocol';
import { ScoreBook, type MinerScore } from '../scores/score-book.service';
import { ValidatorIdentity } from '../identity/validator-identity';
import { MinerHealth } from './miner-health';
import { ExclusionList } from '../verification/exclusion-list.service';

/** Floor added to every score so a new or unlucky miner still gets traffic and can earn a score. */
const EXPLORATION = 0.1;

export interface SelectedMiner {
  neuron: Neuron;
  score: number;
}

/**
 * Picks the miners for a request: serving neurons of the metagraph (an
 * endpoint, not a validator, not ourselves, serving the model when the
 * metagraph says which, not excluded after a failed verification), sampled without replacement with probability
 * proportional to score plus an exploration floor.
 */
@Injectable()
export class MinerSelector {
  constructor(
    private readonly metagraph: MetagraphWatcher,
    private readonly scores: ScoreBook,
    private readonly identity: ValidatorIdentity,
    private readonly health: MinerHealth,
    private readonly exclusions: ExclusionList,
  ) {}

  candidates(model?: string): Neuron[] {
    const snapshot = this.metagraph.current();
    if (!snapshot) return [];
    const self = this.identity.hotkey.ss58Address;
    return snapshot.neurons.filter(
      (n) =>
        n.axon !== null &&
        n.axon.port > 0 &&
        n.hotkey !== self &&
        n.role !== 'validator' &&
        n.active &&
        (model === undefined || model === ANY_MODEL || n.model === undefined || n.model === model),
    );
  }

  /**
   * `eligible` narrows the pool (failover: not the miners that already failed this answer).
   * Miners cooling down after failed calls (MinerHealth) are left out while others remain.
   */
  async select(
    count: number,
    model?: string,
    random: () => number = Math.random,
    eligible: (neuron: Neuron) => boolean = () => true,
  ): Promise<SelectedMiner[]> {
    const all = this.candidates(model).filter(eligible);
    const reachable = all.filter((n) => this.health.usable(n));
    const healthy = reachable.length > 0 ? reachable : all;
    // Miners that failed verification lately get no user traffic.
    const pool = await this.exclusions.filter(healthy);
    if (pool.length === 0) return [];
    const scores = new Map<number, MinerScore>((await this.scores.scoresOf(pool)).map((s) => [s.uid, s]));
    const remaining = pool.map((neuron) => ({ neuron, score: scores.get(neuron.uid)?.score ?? 0 }));
    const chosen: SelectedMiner[] = [];
    while (chosen.length < count && remaining.length > 0) {
      const total = remaining.reduce((sum, m) => sum + m.score + EXPLORATION, 0);
      let ticket = random() * total;
      let index = remaining.length - 1;
      for (let i = 0; i < remaining.length; i++) {
        ticket -= remaining[i].score + EXPLORATION;
        if (ticket <= 0) {
          index = i;
          break;
        }
      }
      chosen.push(remaining.splice(index, 1)[0]);
    }
    return chosen;
  }
}
