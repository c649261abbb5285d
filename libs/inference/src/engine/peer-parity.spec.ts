/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateModel, type GenerateModelOptions } from '../generator/generate-model';
import { ChatTemplate } from '../tokenizer/chat-template';
import { Tokenizer } from '../tokenizer/tokenizer';
import type { ChatTurn } from '../types';
import { InferenceEngine } from './inference-engine';

interface PeerResult {
  promptIds: number[];
  generatedIds: number[];
}

const PEER_SCRIPT = join(__dirname, '../../test/transformers-peer.mjs');
const MAX_NEW_TOKENS = 24;
const conversations: ChatTurn[][] = [
  [{ role: 'user', content: 'Hello there, how are you?' }],
  [
    { role: 'system', content: 'You answer in one short sentence.' },
    { role: 'user', content: 'Why is the sky blue? Explain it to a child of 7.' },
  ],
  [
    { role: 'user', content: 'naïve café — 東京 🚀 and some numbers 12345' },
    { role: 'assistant', content: 'That is a mix of scripts.' },
    { role: 'user', content: "Don't stop now, continue!" },
  ],
];

/** Runs transformers.js greedy generation in a child process (it ships its own onnxruntime-node). */
function peerGreedy(modelDir: string, dtype: 'fp32' | 'fp16'): Promise<PeerResult[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [PEER_SCRIPT], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`transformers.js peer failed: ${error.message}\n${stderr}`));
      else resolve((JSON.parse(stdout) as { results: PeerResult[] }).results);
    });
    child.stdin!.end(JSON.stringify({ mode: 'greedy', modelDir, dtype, conversations, maxNewTokens: MAX_NEW_TOKENS }));
  });
}

describe('greedy generation matches transformers.js on the same model folder', () => {
  let root: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'inference-peer-'));
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const cases: [string, Omit<GenerateModelOptions, 'outDir'>][] = [
    ['fp32 with grouped-query attention', { preset: 'tiny', dtype: 'fp32', seed: 11 }],
    ['fp16 with grouped-query attention', { preset: 'tiny', dtype: 'fp16', seed: 12 }],
    ['fp32 with tied embeddings and multi-head attention', { preset: 'tiny', dtype: 'fp32', seed: 13, numKvHeads: 4, tieWordEmbeddings: true, numLayers: 3 }],
    // generation_config.json of this format sets repetition_penalty 1.05, which both sides apply to greedy decoding too.
    ['ChatML / Qwen2-style folder', { preset: 'tiny', dtype: 'fp32', seed: 14, chatFormat: 'chatml' }],
  ];

  it.each(cases)('%s', async (name, options) => {
    const modelDir = join(root, name.replace(/\W+/g, '-'));
    await generateModel({ outDir: modelDir, ...options });
    const peer = await peerGreedy(modelDir, options.dtype ?? 'fp32');

    const tokenizer = Tokenizer.fromJson(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
    const template = ChatTemplate.fromConfig(JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')));
    const engine = await InferenceEngine.load(modelDir);
    try {
      for (const [index, conversation] of conversations.entries()) {
        expect(tokenizer.encode(template.render(conversation))).toEqual(peer[index].promptIds);
        const ids: number[] = [];
        for await (const chunk of engine.generate(conversation, { temperature: 0, maxTokens: MAX_NEW_TOKENS })) ids.push(...chunk.tokenIds);
        expect(ids).toEqual(peer[index].generatedIds);
      }
    } finally {
      await engine.close();
    }
  });
});
