import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceEngine } from '../engine/inference-engine';
import { generateModel } from '../generator/generate-model';
import type { ChatTurn } from '../types';
import { PromptCounter } from './prompt-counter';

describe('counting prompt tokens without the engine', () => {
  let root: string;
  let modelDir: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'prompt-counter-'));
    modelDir = join(root, 'model');
    await generateModel({ outDir: modelDir, preset: 'tiny', seed: 7 });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('counts exactly the prompt tokens the engine reports, and knows the context length it serves', async () => {
    const counter = PromptCounter.fromFolder(modelDir);
    const engine = await InferenceEngine.load(modelDir);
    try {
      expect(counter.contextLength).toBe(engine.contextLength);
      expect(counter.modelName).toBe(engine.modelName);
      const conversations: ChatTurn[][] = [
        [{ role: 'user', content: 'What is the capital of France?' }],
        [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'naïve café — 東京 🙂 1234567 \n\n\t  spaces' },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: '' },
        ],
      ];
      for (const messages of conversations) {
        let promptTokens: number | undefined;
        for await (const chunk of engine.generate(messages, { maxTokens: 1 }))
          if (chunk.usage) promptTokens = chunk.usage.promptTokens;
        expect(counter.count(messages)).toBe(promptTokens);
      }
    } finally {
      await engine.close();
    }
  });

  it('names what is missing from a folder', () => {
    expect(() => PromptCounter.fromFolder(join(root, 'nope'))).toThrow(/does not exist/);
    expect(() => PromptCounter.fromFolder(root)).toThrow(/config.json is missing/);
  });

  it('is importable with the whole library without loading onnxruntime-node', () => {
    jest.isolateModules(() => {
      jest.doMock('onnxruntime-node', () => {
        throw new Error('onnxruntime-node was loaded at require time');
      });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const library = require('../index') as typeof import('../index');
      expect(typeof library.PromptCounter.fromFolder).toBe('function');
    });
  });
});
