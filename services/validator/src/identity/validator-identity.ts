import { DendriteSigner, loadServiceHotkey, type Keypair } from '@chattensor/bittensor';
import type { HotkeySource } from '@chattensor/common';

/** The validator's hotkey and the dendrite signer (stable uuid, monotonic nonces) built on it. */
export class ValidatorIdentity {
  readonly signer: DendriteSigner;

  private constructor(readonly hotkey: Keypair) {
    this.signer = new DendriteSigner(hotkey);
  }

  static async load(source: HotkeySource): Promise<ValidatorIdentity> {
    return new ValidatorIdentity(await loadServiceHotkey(source));
  }
}
