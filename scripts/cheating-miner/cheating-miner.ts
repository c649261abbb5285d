import {
  Server,
  ServerCredentials,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Keypair } from '@chattensor/bittensor';
import { type Tokenizer, type InferenceEngine } from '@chattensor/inference';
import { minerV1, startAnnouncing } from '@chattensor/protocol';
import { requestSampling } from '@chattensor/scoring';
import type { NatsConnection } from 'nats';

/**
 * Ways a miner can try to be paid for less than honest work:
 * - `random`: random token ids, with their text, as fast as it can;
 * - `other-model`: a different (cheaper) model's answer under the same tokenizer;
 * - `text-mismatch`: honest ids, but text that is not what they decode to;
 * - `cut-short`: honest tokens, stopped halfway and reported as finished;
 * - `replay`: its first (honest) answer again, verbatim, whatever the question.
 *
 * This module exists to show and test that the validator catches them: the
 * end-to-end tests run it in process, and `CHEATERS=<kinds> npm start` runs it
 * as its own program (main.ts) beside the honest miners. It is no part of the
 * miner service and no miner setting turns it on.
 */
export const CHEAT_KINDS = ['random', 'other-model', 'text-mismatch', 'cut-short', 'replay'] as const;
export type CheatKind = (typeof CHEAT_KINDS)[number];

export function isCheatKind(value: string): value is CheatKind {
  return (CHEAT_KINDS as readonly string[]).includes(value);
}

/** Where the cheater listens and what it announces (standalone mode). */
export interface CheaterEndpoint {
  /** gRPC bind address; default 127.0.0.1. */
  host?: string;
  /** gRPC port; default 0 (any free one). */
  port?: number;
  /** Host validators dial, announced; default 127.0.0.1. */
  announceHost?: string;
  /** Announcement interval; default 1 s. */
  intervalMs?: number;
}

interface Chunk {
  text: string;
  ids: number[];
}

/**
 * A miner that cheats, speaking the real MinerService gRPC protocol and
 * announcing itself on NATS like any standalone miner, so the validator
 * finds it in the metagraph beside honest ones. Its answers come from a real
 * engine (the same model as the honest miners, or another one), altered as
 * its kind says.
 */
export class CheatingMiner {
  private readonly server = new Server();
  private stopAnnouncing?: () => void;
  private replayable: { chunks: Chunk[]; finish: string } | undefined;
  port = 0;

  constructor(
    readonly kind: CheatKind,
    readonly keypair: Keypair,
    private readonly engine: InferenceEngine,
    private readonly tokenizer: Tokenizer,
    private readonly modelName: string,
  ) {}

  async start(nc: NatsConnection, netuid: number, endpoint: CheaterEndpoint = {}): Promise<void> {
    const implementation: UntypedServiceImplementation = {
      generate: (call: ServerWritableStream<minerV1.GenerateRequest, minerV1.GenerateResponse>) => {
        this.answer(call).catch((error: unknown) => call.destroy(error as Error));
      },
    };
    this.server.addService(minerV1.MinerServiceService, implementation);
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(
        `${endpoint.host ?? '127.0.0.1'}:${endpoint.port ?? 0}`,
        ServerCredentials.createInsecure(),
        (error, port) => (error ? reject(error) : resolve(port)),
      ),
    );
    this.stopAnnouncing = startAnnouncing(nc, {
      keypair: this.keypair,
      intervalMs: endpoint.intervalMs ?? 1000,
      fields: () => ({
        netuid,
        role: 'miner',
        host: endpoint.announceHost ?? '127.0.0.1',
        port: this.port,
        model: this.modelName,
      }),
    });
  }

  async stop(): Promise<void> {
    this.stopAnnouncing?.();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  /** Any id of the vocabulary but its special tokens (no end-of-turn), so the text always decodes. */
  private randomToken(): number {
    for (;;) {
      const id = Math.floor(Math.random() * this.tokenizer.vocabSize);
      if (!this.tokenizer.isSpecial(id) && this.tokenizer.bytesOf(id) !== undefined) return id;
    }
  }

  private async honest(request: minerV1.GenerateRequest): Promise<{ chunks: Chunk[]; finish: string }> {
    const { messages, sampling } = requestSampling(request);
    const seed = request.sampling?.seed;
    const chunks: Chunk[] = [];
    let finish = '';
    for await (const chunk of this.engine.generate(messages, {
      ...sampling,
      seed: seed === undefined ? undefined : Number(seed),
    })) {
      chunks.push({ text: chunk.text, ids: chunk.tokenIds });
      if (chunk.finishReason) finish = chunk.finishReason;
    }
    return { chunks, finish };
  }

  private async answer(
    call: ServerWritableStream<minerV1.GenerateRequest, minerV1.GenerateResponse>,
  ): Promise<void> {
    const request = call.request;
    const { messages } = requestSampling(request);
    const promptTokens = this.engine.countTokens(messages);
    let chunks: Chunk[];
    let finish = 'length';
    switch (this.kind) {
      case 'random': {
        const count = Math.max(1, request.sampling?.maxTokens ?? 16);
        chunks = Array.from({ length: count }, () => ({ text: '', ids: [this.randomToken()] }));
        const text = this.tokenizer.decode(chunks.flatMap((c) => c.ids));
        chunks[0].text = text;
        break;
      }
      case 'other-model':
        ({ chunks, finish } = await this.honest(request));
        break;
      case 'text-mismatch': {
        ({ chunks, finish } = await this.honest(request));
        chunks[0] = { ...chunks[0], text: `Certainly! ${chunks[0].text}` };
        break;
      }
      case 'cut-short': {
        const full = await this.honest(request);
        chunks = full.chunks.slice(0, Math.max(1, Math.floor(full.chunks.length / 2)));
        finish = 'stop';
        break;
      }
      case 'replay': {
        // The first question gets an honest answer, which is then sent again, verbatim, for every later one.
        this.replayable ??= await this.honest(request);
        ({ chunks, finish } = this.replayable);
        break;
      }
    }
    const completionTokens = chunks.reduce((n, c) => n + c.ids.length, 0);
    chunks.forEach((chunk, index) => {
      const last = index === chunks.length - 1;
      call.write({
        textDelta: chunk.text,
        tokenCount: chunk.ids.length,
        tokenIds: chunk.ids,
        finishReason: last ? finish : '',
        usage: last ? { promptTokens, completionTokens } : undefined,
        model: this.modelName,
      });
    });
    call.end();
  }
}
