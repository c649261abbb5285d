import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { counter, rootLogger } from '@chattensor/common';
import { MetagraphWatcher, describeGone } from '@chattensor/protocol';
import { ScoreBook } from './score-book.service';
import { ScoreHistory } from './score-history';

/**
 * What the validator does when its subnet is gone (dissolved, or its netuid
 * taken by another registration) or the chain-indexer withdrew the snapshot
 * (it started over on another chain). The watcher then holds no snapshot, so
 * no miner is selected (nothing is scored) and the weight setter has nothing
 * to set; readiness says why. Here the scores of the old subnet (and their chart) are dropped,
 * so that a new lineage under the same netuid never inherits them.
 */
@Injectable()
export class SubnetLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = rootLogger().child({ component: 'subnet-lifecycle' });
  private stop?: () => void;
  private readonly ended = counter({
    name: 'chattensor_validator_subnet_gone_total',
    help: 'Times the followed subnet was marked gone or withdrawn by the chain-indexer',
    labelNames: ['reason'],
  });

  constructor(
    private readonly metagraph: MetagraphWatcher,
    private readonly scores: ScoreBook,
    private readonly history: ScoreHistory,
  ) {}

  onApplicationBootstrap(): void {
    this.stop = this.metagraph.onGone((gone) => {
      this.ended.inc({ reason: gone?.gone ?? 'withdrawn' });
      this.log.warn(
        { netuid: this.metagraph.netuid, reason: gone?.gone ?? 'withdrawn', block: gone?.block },
        `${gone ? describeGone(gone) : 'the metagraph was withdrawn'}: no scoring or weights for it, scores and their history dropped`,
      );
      Promise.all([this.scores.forgetAll(), this.history.forgetAll()]).catch((error: unknown) =>
        this.log.warn({ err: (error as Error).message }, 'could not drop the scores of the gone subnet'),
      );
    });
  }

  onApplicationShutdown(): void {
    this.stop?.();
  }
}
