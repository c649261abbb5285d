import { ConfigError } from '@chattensor/common';
import { initCrypto, type Keypair } from '../keys/keypair';
import { loadHotkey, type HotkeySource } from './wallet';

/**
 * A service's hotkey at start: from HOTKEY_URI, else from the wallet folder.
 * Any failure is a configuration error naming the variable to fix, and never
 * contains the secret itself.
 */
export async function loadServiceHotkey(source: HotkeySource): Promise<Keypair> {
  await initCrypto();
  try {
    return await loadHotkey(source);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (source.uri) throw new ConfigError([{ variable: 'HOTKEY_URI', problem: 'is not a valid secret URI, mnemonic or seed' }]);
    const where = `${source.walletPath ?? '~/.bittensor/wallets'}/${source.walletName ?? 'default'}/hotkeys/${source.hotkeyName ?? 'default'}`;
    throw new ConfigError([{ variable: 'WALLET_PATH', problem: `hotkey ${where} could not be loaded: ${reason}` }]);
  }
}
