import { z } from 'zod';
import { ConfigError } from './config.util';

/**
 * How a service finds its hotkey: a secret URI (mnemonic, 0x seed or a dev
 * derivation like //Alice), or the Python SDK's wallet folder.
 */
export const hotkeyEnvSchema = z.object({
  HOTKEY_URI: z.string().optional(),
  /** The scheme of a HOTKEY_URI key (a wallet keyfile states its own `cryptoType`). */
  HOTKEY_CRYPTO_TYPE: z.enum(['sr25519', 'ed25519'], { message: 'must be sr25519 or ed25519' }).default('sr25519'),
  WALLET_PATH: z.string().optional(),
  WALLET_NAME: z.string().default('default'),
  WALLET_HOTKEY: z.string().default('default'),
});

export interface HotkeySource {
  uri?: string;
  /** For `uri`: sr25519 unless ed25519 is asked for. */
  cryptoType?: 'sr25519' | 'ed25519';
  walletPath?: string;
  walletName: string;
  hotkeyName: string;
}

export function hotkeySourceOf(e: z.infer<typeof hotkeyEnvSchema>): HotkeySource {
  if (!e.HOTKEY_URI && !e.WALLET_PATH) {
    throw new ConfigError([
      { variable: 'HOTKEY_URI', problem: 'is required unless WALLET_PATH (with WALLET_NAME, WALLET_HOTKEY) names a wallet folder' },
    ]);
  }
  return { uri: e.HOTKEY_URI, cryptoType: e.HOTKEY_CRYPTO_TYPE, walletPath: e.WALLET_PATH, walletName: e.WALLET_NAME, hotkeyName: e.WALLET_HOTKEY };
}
