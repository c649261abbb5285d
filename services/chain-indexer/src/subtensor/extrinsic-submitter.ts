import type { ApiPromise } from '@polkadot/api';
import type { Signer, SubmittableExtrinsic } from '@polkadot/api/types';
import type { DispatchError } from '@polkadot/types/interfaces';
import type { IKeyringPair, ISubmittableResult } from '@polkadot/types/types';
import type { ExtrinsicOutcome } from '@chattensor/protocol';
import { rootLogger } from '@chattensor/common';

export type WaitFor = 'in_block' | 'finalized';

/**
 * Who signs: a key the indexer holds, or a hotkey whose owner signs the
 * payload remotely (`OwnerSigner`).
 */
export type SigningAccount = IKeyringPair | { address: string; signer: Signer };

function isRemote(account: SigningAccount): account is { address: string; signer: Signer } {
  return 'signer' in account && typeof (account as { signer?: unknown }).signer === 'object';
}

export interface SubmitOptions {
  waitFor: WaitFor;
  finalityTimeoutMs: number;
  /** Mortality in blocks; 0 signs immortal. */
  mortalPeriod: number;
}

/** `Pallet.Error` of a module error, decoded by the node's metadata; else the error's own text. */
export function describeDispatchError(
  api: ApiPromise,
  error: DispatchError,
): { moduleError?: string; error: string } {
  if (error.isModule) {
    const meta = api.registry.findMetaError(error.asModule);
    const name = `${meta.section.charAt(0).toUpperCase()}${meta.section.slice(1)}.${meta.name}`;
    return { moduleError: name, error: meta.docs.join(' ').trim() || name };
  }
  return { error: error.toString() };
}

/**
 * Submits signed extrinsics one at a time per signer: the nonce is the
 * larger of the node's next index (pool included) and the one after our last
 * submission, so two requests in quick succession never collide.
 */
export class ExtrinsicSubmitter {
  private readonly log = rootLogger().child({ component: 'extrinsic-submitter' });
  private queue: Promise<unknown> = Promise.resolve();
  private nextNonce = new Map<string, number>();

  submit(
    api: ApiPromise,
    call: string,
    tx: SubmittableExtrinsic<'promise'>,
    signer: SigningAccount,
    options: SubmitOptions,
  ): Promise<ExtrinsicOutcome> {
    const run = this.queue.then(() => this.send(api, call, tx, signer, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async send(
    api: ApiPromise,
    call: string,
    tx: SubmittableExtrinsic<'promise'>,
    signer: SigningAccount,
    options: SubmitOptions,
  ): Promise<ExtrinsicOutcome> {
    const poolNonce = (await api.rpc.system.accountNextIndex(signer.address)).toNumber();
    const nonce = Math.max(poolNonce, this.nextNonce.get(signer.address) ?? 0);
    return new Promise<ExtrinsicOutcome>((resolve) => {
      let unsubscribe: (() => void) | undefined;
      let finalityTimer: NodeJS.Timeout | undefined;
      let inBlock: ExtrinsicOutcome | undefined;
      let settled = false;
      const settle = (outcome: ExtrinsicOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(finalityTimer);
        unsubscribe?.();
        resolve({ call, ...outcome });
      };
      const onStatus = async (result: ISubmittableResult) => {
        const { status } = result;
        if (status.isInBlock || status.isFinalized) {
          const blockHash = (status.isInBlock ? status.asInBlock : status.asFinalized).toHex();
          const block = (await api.rpc.chain.getHeader(blockHash)).number.toNumber();
          const base = { block, blockHash, txHash: tx.hash.toHex() };
          if (result.dispatchError) {
            const described = describeDispatchError(api, result.dispatchError);
            this.log.warn({ call, block, ...described }, 'extrinsic failed on chain');
            return settle({ outcome: 'failed', ...base, ...described });
          }
          if (status.isFinalized) return settle({ outcome: 'finalized', ...base });
          inBlock = { outcome: 'in_block', ...base };
          if (options.waitFor === 'in_block') return settle(inBlock);
          finalityTimer ??= setTimeout(() => settle(inBlock!), options.finalityTimeoutMs);
          return;
        }
        if (status.isInvalid || status.isDropped || status.isUsurped || status.isFinalityTimeout) {
          // The node took it out of the pool: a known nonce is no longer reserved.
          this.nextNonce.delete(signer.address);
          settle(
            inBlock ?? {
              outcome: 'failed',
              error: `transaction ${status.type.toLowerCase()}`,
              txHash: tx.hash.toHex(),
            },
          );
        }
      };
      const era = options.mortalPeriod === 0 ? 0 : options.mortalPeriod;
      const onResult = (result: ISubmittableResult) => {
        onStatus(result).catch((error: unknown) =>
          settle({ outcome: 'failed', error: (error as Error).message }),
        );
      };
      // A remote signer (the hotkey's owner) signs the payload the API builds with this nonce and era.
      (isRemote(signer)
        ? tx.signAndSend(signer.address, { nonce, era, signer: signer.signer }, onResult)
        : tx.signAndSend(signer, { nonce, era }, onResult)
      )
        .then((stop) => {
          this.nextNonce.set(signer.address, nonce + 1);
          if (settled) stop();
          else unsubscribe = stop;
        })
        .catch((error: unknown) => {
          // Rejected by the pool at submission (bad nonce, rate limit in the transaction extension...).
          settle({ outcome: 'failed', error: (error as Error).message });
        });
    });
  }
}
