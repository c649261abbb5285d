import { Client, Metadata, credentials, type ClientReadableStream } from '@grpc/grpc-js';
import { DendriteSigner, sha3Hex, type Keypair } from '@chattensor/bittensor';
import { authToMetadata, minerV1 } from '@chattensor/protocol';

const GENERATE_PATH = '/chattensor.miner.v1.MinerService/Generate';

/**
 * Calls a miner's Generate directly, authenticated exactly as a validator
 * does (the encoded request's bytes are hashed, the hash signed with the
 * caller's hotkey, those same bytes sent), so the benchmark has a baseline
 * without the gateway and the validator in the path.
 */
export class SignedMinerClient {
  private readonly client: Client;
  private readonly signer: DendriteSigner;

  constructor(
    address: string,
    callerHotkey: Keypair,
    private readonly minerHotkey: string,
  ) {
    this.client = new Client(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
    });
    this.signer = new DendriteSigner(callerHotkey);
  }

  /** Streams one generation; resolves with the time to the first token and the token count. */
  async generate(
    request: minerV1.GenerateRequest,
    timeoutMs = 60_000,
  ): Promise<{ ttftMs: number; tokens: number }> {
    const started = performance.now();
    const bytes = Buffer.from(minerV1.GenerateRequest.encode(request).finish());
    const metadata = new Metadata();
    const auth = this.signer.sign(this.minerHotkey, sha3Hex(bytes));
    for (const [key, value] of Object.entries(authToMetadata(auth, Math.ceil(timeoutMs / 1000))))
      metadata.set(key, value);
    const stream: ClientReadableStream<minerV1.GenerateResponse> = this.client.makeServerStreamRequest(
      GENERATE_PATH,
      (payload: Buffer) => payload,
      (data: Buffer) => minerV1.GenerateResponse.decode(data),
      bytes,
      metadata,
      { deadline: Date.now() + timeoutMs },
    );
    let ttftMs = -1;
    let tokens = 0;
    for await (const chunk of stream as AsyncIterable<minerV1.GenerateResponse>) {
      if (ttftMs < 0 && chunk.textDelta) ttftMs = performance.now() - started;
      tokens += chunk.tokenCount;
    }
    if (ttftMs < 0) throw new Error('the miner sent no text');
    return { ttftMs, tokens };
  }

  close(): void {
    this.client.close();
  }
}
