/**
 * Drives a Subtensor dev chain (chopsticks or a local node) the way an
 * operator would: sudo hyperparameters, subnet registration, staking, blocks.
 * Used by the benchmark, the opt-in live suite (test/chain) and the fixture recorder.
 */
import { ApiPromise, Keyring, WsProvider } from '@polkadot/api';
import type { SubmittableExtrinsic } from '@polkadot/api/types';
import type { KeyringPair } from '@polkadot/keyring/types';
import type { EventRecord } from '@polkadot/types/interfaces';
import { cryptoWaitReady } from '@polkadot/util-crypto';

export const TAO = 1_000_000_000n;

export interface Harness {
  api: ApiPromise;
  keyring: Keyring;
  sudo: KeyringPair;
  close(): Promise<void>;
}

export async function connectHarness(endpoint: string): Promise<Harness> {
  await cryptoWaitReady();
  const api = await ApiPromise.create({
    // Long timeout: a dev chain answers slowly while an indexer reads every block.
    provider: new WsProvider(endpoint, 2500, {}, 300_000),
    noInitWarn: true,
    signedExtensions: { SubtensorTransactionExtension: { extrinsic: {}, payload: {} } },
  });
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  return { api, keyring, sudo: keyring.addFromUri('//Alice'), close: () => api.disconnect() };
}

/** Builds `count` blocks (chopsticks' dev_newBlock). */
export async function newBlocks(api: ApiPromise, count = 1): Promise<number> {
  await api.rpc('dev_newBlock', { count });
  return (await api.rpc.chain.getHeader()).number.toNumber();
}

export async function bestBlock(api: ApiPromise): Promise<number> {
  return (await api.rpc.chain.getHeader()).number.toNumber();
}

/**
 * Signs with an explicit nonce (chopsticks' default one can be stale) and
 * waits for inclusion; a dispatch error is thrown decoded by the metadata.
 */
export async function send(api: ApiPromise, tx: SubmittableExtrinsic<'promise'>, signer: KeyringPair): Promise<EventRecord[]> {
  const nonce = await api.rpc.system.accountNextIndex(signer.address);
  return new Promise((resolve, reject) => {
    let unsub: (() => void) | undefined;
    tx.signAndSend(signer, { nonce, era: 0 }, (result) => {
      if (result.dispatchError) {
        unsub?.();
        const e = result.dispatchError;
        if (e.isModule) {
          const meta = api.registry.findMetaError(e.asModule);
          reject(new Error(`${meta.section}.${meta.name}`));
        } else reject(new Error(e.toString()));
        return;
      }
      if (result.isInBlock || result.isFinalized) {
        unsub?.();
        resolve(result.events);
      }
      if (result.isError || result.status.isDropped || result.status.isInvalid) {
        unsub?.();
        reject(new Error(`transaction ${result.status.type}`));
      }
    })
      .then((u) => {
        unsub = u;
      })
      .catch(reject);
  });
}

export function sudo(h: Harness, call: SubmittableExtrinsic<'promise'>): Promise<EventRecord[]> {
  return send(h.api, h.api.tx.sudo.sudo(call), h.sudo);
}

export interface SubnetSetup {
  netuid: number;
  owner: KeyringPair;
  validator: KeyringPair;
  miners: KeyringPair[];
}

export interface SubnetOptions {
  miners: number;
  tempo?: number;
  weightsRateLimit?: number;
  commitReveal?: boolean;
  /** TAO the owner stakes to the validator hotkey. */
  stakeTao?: bigint;
  /** Seed of the derivation paths, so two runs on one chain do not collide. */
  tag?: string;
}

/**
 * A fresh subnet: Alice registers it with a validator hotkey (uid 0), sets
 * fast epochs, starts it, registers `miners` hotkeys (in batches, so 255
 * registrations take a few blocks) and stakes to the validator.
 */
export async function createSubnet(h: Harness, options: SubnetOptions): Promise<SubnetSetup> {
  const { api, keyring } = h;
  const tag = options.tag ?? `${Date.now()}`;
  const owner = keyring.addFromUri('//Alice');
  const minerColdkey = keyring.addFromUri('//Bob');
  const validator = keyring.addFromUri(`//Alice//validator-${tag}`);
  const miners = Array.from({ length: options.miners }, (_, i) => keyring.addFromUri(`//Bob//miner-${tag}-${i}`));
  if ((await bestBlock(api)) < 2) await newBlocks(api, 2);
  // Dev chains start with a network rate limit; tests register several subnets.
  await sudo(h, api.tx.adminUtils.sudoSetNetworkRateLimit(0));

  const events = await send(api, api.tx.subtensorModule.registerNetwork(validator.address), owner);
  const added = events.find((e) => e.event.section === 'subtensorModule' && e.event.method === 'NetworkAdded');
  if (!added) throw new Error('register_network emitted no NetworkAdded event');
  const netuid = Number(added.event.data[0].toString());

  const admin = api.tx.adminUtils;
  await sudo(h, admin.sudoSetTempo(netuid, options.tempo ?? 10));
  await sudo(h, admin.sudoSetCommitRevealWeightsEnabled(netuid, options.commitReveal ?? false));
  await sudo(h, admin.sudoSetWeightsSetRateLimit(netuid, options.weightsRateLimit ?? 0));
  await sudo(h, admin.sudoSetMaxRegistrationsPerBlock(netuid, 512));
  await sudo(h, admin.sudoSetTargetRegistrationsPerInterval(netuid, 512));
  await sudo(h, admin.sudoSetServingRateLimit(netuid, 0));
  await newBlocks(api, 10);
  await send(api, api.tx.subtensorModule.startCall(netuid), owner);

  // Hotkeys pay no fee for weights and axons, but must exist as accounts.
  const fund = [validator, ...miners].map((k) => api.tx.balances.transferKeepAlive(k.address, 10n * TAO));
  for (let i = 0; i < fund.length; i += 64) await send(api, api.tx.utility.batchAll(fund.slice(i, i + 64)), owner);
  for (let i = 0; i < miners.length; i += 32) {
    const batch = miners.slice(i, i + 32).map((m) => api.tx.subtensorModule.burnedRegister(netuid, m.address));
    await send(api, api.tx.utility.batchAll(batch), minerColdkey);
  }
  await send(api, api.tx.subtensorModule.addStake(validator.address, netuid, options.stakeTao ?? 1000n * TAO), owner);
  return { netuid, owner, validator, miners };
}

/** Runs blocks until the subnet has completed `epochs` more epochs. */
export async function runEpochs(h: Harness, netuid: number, epochs: number): Promise<void> {
  const tempo = Number((await h.api.query.subtensorModule.tempo(netuid)).toString());
  await newBlocks(h.api, epochs * (tempo + 1) + 1);
}
