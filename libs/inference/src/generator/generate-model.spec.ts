/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { generateModel } from './generate-model';

describe('generateModel', () => {
  let root: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'inference-gen-'));
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes a Hugging Face / Optimum folder whose graph onnxruntime loads with the exported input and output names', async () => {
    const dir = join(root, 'tiny');
    await generateModel({ outDir: dir, preset: 'tiny', seed: 1 });
    for (const file of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'onnx/model.onnx']) {
      expect(existsSync(join(dir, file))).toBe(true);
    }
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'llama', hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 512 });
    const tokenizerConfig = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    expect(tokenizerConfig.chat_template).toContain('<|start_header_id|>');

    const session = await ort.InferenceSession.create(join(dir, 'onnx/model.onnx'));
    expect(session.inputNames).toEqual([
      'input_ids',
      'attention_mask',
      'position_ids',
      'past_key_values.0.key',
      'past_key_values.0.value',
      'past_key_values.1.key',
      'past_key_values.1.value',
    ]);
    expect(session.outputNames).toEqual(['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
    const ids = [5n, 6n, 7n];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, 3]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from([1n, 1n, 1n]), [1, 3]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 2n]), [1, 3]),
    };
    for (let layer = 0; layer < 2; layer++) {
      feeds[`past_key_values.${layer}.key`] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
      feeds[`past_key_values.${layer}.value`] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
    }
    const outputs = await session.run(feeds);
    expect(outputs.logits.dims).toEqual([1, 3, 512]);
    expect(outputs['present.1.value'].dims).toEqual([1, 2, 3, 16]);
    const logits = outputs.logits.data as Float32Array;
    const spread = Math.max(...logits.subarray(0, 512)) - Math.min(...logits.subarray(0, 512));
    expect(spread).toBeGreaterThan(5);
    await session.release();
  });

  it('produces identical files for the same seed and different weights for another seed', async () => {
    await generateModel({ outDir: join(root, 'a'), seed: 7 });
    await generateModel({ outDir: join(root, 'b'), seed: 7 });
    await generateModel({ outDir: join(root, 'c'), seed: 8 });
    const read = (name: string, file: string): Buffer => readFileSync(join(root, name, file));
    expect(read('a', 'onnx/model.onnx').equals(read('b', 'onnx/model.onnx'))).toBe(true);
    expect(read('a', 'tokenizer.json').equals(read('b', 'tokenizer.json'))).toBe(true);
    expect(read('a', 'onnx/model.onnx').equals(read('c', 'onnx/model.onnx'))).toBe(false);
  });

  it('moves weights to model.onnx_data when external data is requested, and the graph still loads', async () => {
    const dir = join(root, 'external');
    await generateModel({ outDir: dir, seed: 1, externalData: true });
    expect(readFileSync(join(dir, 'onnx/model.onnx')).length).toBeLessThan(64 * 1024);
    expect(readFileSync(join(dir, 'onnx/model.onnx_data')).length).toBeGreaterThan(100 * 1024);
    const session = await ort.InferenceSession.create(join(dir, 'onnx/model.onnx'));
    expect(session.outputNames[0]).toBe('logits');
    await session.release();
  });

  it('rejects architectures that cannot be built', async () => {
    await expect(generateModel({ outDir: join(root, 'bad'), hiddenSize: 60, numHeads: 8 })).rejects.toThrow(/not divisible/);
    await expect(generateModel({ outDir: join(root, 'bad'), numHeads: 4, numKvHeads: 3 })).rejects.toThrow(/multiple of numKvHeads/);
  });
});
