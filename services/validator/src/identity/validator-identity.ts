import { DendriteSigner, Keypair, initCrypto } from '@chattensor/bittensor';
import { ConfigError, type HotkeySource } from '@chattensor/common';

/** The validator's hotkey and the dendrite signer (stable uuid, monotonic nonces) built on it. */
export class ValidatorIdentity {
  readonly signer: DendriteSigner;

  private constructor(readonly hotkey: Keypair) {
    this.signer = new DendriteSigner(hotkey);
  }

  static async load(source: HotkeySource): Promise<ValidatorIdentity> {
    await initCrypto();
    if (!source.uri) {
      throw new ConfigError([
        { variable: 'WALLET_PATH', problem: 'wallet folders need the wallet loader; set HOTKEY_URI instead' },
      ]);
    }
    try {
      return new ValidatorIdentity(Keypair.fromUri(source.uri));
    } catch (error) {
      throw new ConfigError([
        { variable: 'HOTKEY_URI', problem: `is not a valid secret URI (${(error as Error).message})` },
      ]);
    }
  }
}
