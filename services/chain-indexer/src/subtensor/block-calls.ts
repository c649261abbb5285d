import type { ApiPromise } from '@polkadot/api';
import { hexToU8a } from '@polkadot/util';
import type { Registry } from '@polkadot/types/types';
import type { Codec } from '@polkadot/types/types';

interface RuntimeCallDef {
  /** `SubnetInfoRuntimeApi_get_metagraph`. */
  name: string;
  params: { type: string }[];
  type: string;
}

interface StorageMeta {
  type: { isPlain: boolean; asPlain: unknown; asMap: { value: unknown } };
  modifier: { isOptional: boolean };
  fallback: { toHex(): string };
}

/** What `state_getRuntimeVersion` answers, as far as telling two runtimes apart goes. */
interface RuntimeVersionJson {
  specName: string;
  specVersion: number;
}

/**
 * Runtime calls and storage reads at one block, encoded and decoded with the
 * connection's own registry, undecoded until asked.
 *
 * `api.at(hash)` fetches the block's header and its parent's runtime version
 * one after the other and then decorates the whole metadata again for every
 * new block hash (tens of milliseconds of CPU per block on Subtensor's
 * metadata) before the first call can go out. Here every request leaves at
 * once, and `sameRuntime()` checks, alongside them, that the block runs the
 * runtime the registry describes; when it does not (an upgrade the indexer
 * has not caught up with), the caller falls back to `api.at`.
 */
export class BlockCalls {
  private readonly registry: Registry;
  private readonly specName: string;
  private readonly specVersion: number;

  constructor(
    private readonly api: ApiPromise,
    readonly hash: string,
  ) {
    // Captured together: an upgrade seen meanwhile swaps both on the api.
    this.registry = api.registry;
    this.specName = api.runtimeVersion.specName.toString();
    this.specVersion = api.runtimeVersion.specVersion.toNumber();
  }

  /** The runtime the registry describes (checked against the block by `sameRuntime()`). */
  get runtime(): { specName: string; specVersion: number } {
    return { specName: this.specName, specVersion: this.specVersion };
  }

  has(section: string, method: string): boolean {
    return this.callDef(section, method) !== undefined;
  }

  hasStorage(pallet: string, item: string): boolean {
    return this.storageEntry(pallet, item) !== undefined;
  }

  /** Whether the block's runtime is the one this registry decodes. */
  async sameRuntime(): Promise<boolean> {
    const version = await this.api.rpc.state.getRuntimeVersion.raw<RuntimeVersionJson>(this.hash);
    return version.specName === this.specName && Number(version.specVersion) === this.specVersion;
  }

  /**
   * A runtime API call; resolves with a decoder so that decoding can wait for `sameRuntime()`.
   * Answers are decoded from bytes: a hex string would be taken as the inner value of an Option.
   */
  async call(section: string, method: string, ...args: unknown[]): Promise<() => Codec> {
    const def = this.callDef(section, method);
    if (!def) throw new Error(`the runtime has no ${section}.${method}`);
    if (args.length !== def.params.length)
      throw new Error(`${def.name} takes ${def.params.length} arguments`);
    const data = this.registry.createType(
      'Raw',
      concat(args.map((arg, i) => this.registry.createTypeUnsafe(def.params[i].type, [arg]).toU8a())),
    );
    // `.raw`: the node's hex answer, without rpc-core looking up a registry for the block.
    const raw = await this.api.rpc.state.call.raw<string>(def.name, data, this.hash);
    return () => this.registry.createTypeUnsafe(def.type, [hexToU8a(raw)]);
  }

  /** A storage item (value query); the decoder returns undefined for an absent optional value. */
  async query(pallet: string, item: string, ...args: unknown[]): Promise<() => Codec | undefined> {
    const entry = this.storageEntry(pallet, item);
    if (!entry) throw new Error(`the runtime has no storage ${pallet}.${item}`);
    const key = entry.key(...args);
    const raw = await this.api.rpc.state.getStorage.raw<string | null>(key, this.hash);
    return () => {
      const meta = entry.creator.meta as unknown as StorageMeta;
      const type = this.registry.createLookupType(
        (meta.type.isPlain ? meta.type.asPlain : meta.type.asMap.value) as never,
      );
      if (raw === null && meta.modifier.isOptional) return undefined;
      return this.registry.createTypeUnsafe(type, [hexToU8a(raw ?? meta.fallback.toHex())]);
    };
  }

  /**
   * Many keys of one storage map in a single `state_queryStorageAt`; the
   * decoder returns one value per key (undefined where absent and optional).
   */
  async queryMany(pallet: string, item: string, argsList: unknown[][]): Promise<() => (Codec | undefined)[]> {
    const bytes = await this.queryManyBytes(pallet, item, argsList);
    return () => {
      const entry = this.storageEntry(pallet, item);
      const meta = entry.creator.meta as unknown as StorageMeta;
      const type = this.registry.createLookupType(
        (meta.type.isPlain ? meta.type.asPlain : meta.type.asMap.value) as never,
      );
      return bytes().map((value) =>
        value === undefined ? undefined : this.registry.createTypeUnsafe(type, [value]),
      );
    };
  }

  /**
   * As `queryMany`, undecoded: each value's SCALE bytes (the item's default
   * where absent; undefined where absent and optional). For values whose
   * type (`storageValueType`) a caller decodes faster than generic codecs.
   */
  async queryManyBytes(
    pallet: string,
    item: string,
    argsList: unknown[][],
  ): Promise<() => (Uint8Array | undefined)[]> {
    const entry = this.storageEntry(pallet, item);
    if (!entry) throw new Error(`the runtime has no storage ${pallet}.${item}`);
    if (argsList.length === 0) return () => [];
    const keys = argsList.map((args) => entry.key(...args));
    const answer = await this.api.rpc.state.queryStorageAt.raw<
      { block: string; changes: [string, string | null][] }[]
    >(keys, this.hash);
    return () => {
      const meta = entry.creator.meta as unknown as StorageMeta;
      const values = new Map<string, string | null>();
      for (const set of answer) for (const [key, value] of set.changes) values.set(key, value);
      return keys.map((key) => {
        const raw = values.get(key) ?? null;
        if (raw === null && meta.modifier.isOptional) return undefined;
        return hexToU8a(raw ?? meta.fallback.toHex());
      });
    };
  }

  /** The type of a storage item's values as the metadata spells it, e.g. `Vec<(u16,u16)>`. */
  storageValueType(pallet: string, item: string): string | undefined {
    const entry = this.storageEntry(pallet, item);
    if (!entry) return undefined;
    const meta = entry.creator.meta as unknown as StorageMeta;
    const id = meta.type.isPlain ? meta.type.asPlain : meta.type.asMap.value;
    return this.registry.lookup.getTypeDef(id as never).type;
  }

  private callDef(section: string, method: string): RuntimeCallDef | undefined {
    const calls = this.api.call as unknown as Record<
      string,
      Record<string, { meta?: RuntimeCallDef }> | undefined
    >;
    return calls[section]?.[method]?.meta;
  }

  private storageEntry(pallet: string, item: string) {
    return this.api.query[pallet]?.[item];
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
