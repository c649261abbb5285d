import { loadServiceHotkey, type Keypair } from '@chattensor/bittensor';
import type { HotkeySource } from '@chattensor/common';

/** The miner's hotkey: signs announcements and is the axon hotkey callers must address. */
export class MinerIdentity {
  private constructor(readonly hotkey: Keypair) {}

  static async load(source: HotkeySource): Promise<MinerIdentity> {
    return new MinerIdentity(await loadServiceHotkey(source));
  }
}
