import { Inject, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '@chattensor/common';
import { MetagraphWatcher } from '@chattensor/protocol';
import { MINER_CONFIG, type MinerConfig } from '../config/miner.config';

/**
 * Who may call this miner, and how urgent they are. On chain: hotkeys holding
 * a validator permit on the metagraph (and at least MIN_VALIDATOR_STAKE).
 * Standalone: the MINER_ALLOWED_HOTKEYS allow-list, or, when it is empty, the
 * permits of the local metagraph.
 */
@Injectable()
export class CallerPolicy {
  private readonly allowList: Set<string>;

  constructor(
    @Inject(MINER_CONFIG) private readonly config: MinerConfig,
    private readonly metagraph: MetagraphWatcher,
  ) {
    this.allowList = new Set(config.auth.allowedHotkeys);
  }

  /**
   * Throws PermissionDenied for a caller that may not call; otherwise returns
   * its priority for a batch slot when the miner is saturated: its stake on
   * the subnet as the metagraph has it, or 0 for every caller of an
   * allow-list, which are all served alike.
   */
  admit(hotkey: string): number {
    if (this.config.chainMode === 'local' && this.allowList.size > 0) {
      if (!this.allowList.has(hotkey))
        throw new AppError(ErrorCode.PermissionDenied, `caller ${hotkey} is not on the allow-list`);
      return 0;
    }
    const neuron = this.metagraph.neuronByHotkey(hotkey);
    if (!neuron)
      throw new AppError(ErrorCode.PermissionDenied, `caller ${hotkey} is not registered on the subnet`);
    if (!neuron.validatorPermit)
      throw new AppError(ErrorCode.PermissionDenied, `caller ${hotkey} has no validator permit`);
    if (neuron.stake < this.config.auth.minValidatorStake) {
      throw new AppError(
        ErrorCode.PermissionDenied,
        `caller ${hotkey} holds less than the minimum validator stake`,
      );
    }
    return neuron.stake;
  }
}
