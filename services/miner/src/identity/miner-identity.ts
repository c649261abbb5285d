import { Keypair, initCrypto } from '@chattensor/bittensor';
import { ConfigError, type HotkeySource } from '@chattensor/common';

/** The miner's hotkey: signs announcements and is the axon hotkey callers must address. */
export class MinerIdentity {
  private constructor(readonly hotkey: Keypair) {}

  static async load(source: HotkeySource): Promise<MinerIdentity> {
    await initCrypto();
    return new MinerIdentity(await loadKeypair(source));
  }
}

/** Shared by the services through their identity providers. */
export async function loadKeypair(source: HotkeySource): Promise<Keypair> {
  if (source.uri) {
    try {
      return Keypair.fromUri(source.uri);
    } catch (error) {
      throw new ConfigError([
        { variable: 'HOTKEY_URI', problem: `is not a valid secret URI (${(error as Error).message})` },
      ]);
    }
  }
  throw new ConfigError([
    { variable: 'WALLET_PATH', problem: 'wallet folders need the wallet loader; set HOTKEY_URI instead' },
  ]);
}
