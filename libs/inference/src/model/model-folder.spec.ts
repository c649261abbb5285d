/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { InferenceEngine } from '../engine/inference-engine';
import { ModelLoadError } from '../errors';
import { generateModel, type GenerateModelOptions } from '../generator/generate-model';
import type { ChatTurn } from '../types';

const prompt: ChatTurn[] = [{ role: 'user', content: 'Which layout is this?' }];

async function greedyIds(dir: string): Promise<number[]> {
  const engine = await InferenceEngine.load(dir);
  try {
    const ids: number[] = [];
    for await (const chunk of engine.generate(prompt, { temperature: 0, maxTokens: 16 })) ids.push(...chunk.tokenIds);
    return ids;
  } finally {
    await engine.close();
  }
}

describe('model folders as operators have them', () => {
  let root: string;
  let reference: number[];
  const make = async (name: string, options: Omit<GenerateModelOptions, 'outDir'> = {}): Promise<string> => {
    const dir = join(root, name);
    await generateModel({ outDir: dir, preset: 'tiny', seed: 21, ...options });
    return dir;
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'inference-folders-'));
    reference = await greedyIds(await make('reference'));
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('loads model.onnx from the folder root', async () => {
    const dir = await make('root-graph');
    renameSync(join(dir, 'onnx/model.onnx'), join(dir, 'model.onnx'));
    rmSync(join(dir, 'onnx'), { recursive: true });
    expect(await greedyIds(dir)).toEqual(reference);
  });

  it('loads weights from external data next to the graph', async () => {
    const dir = await make('external', { externalData: true });
    expect(existsSync(join(dir, 'onnx/model.onnx_data'))).toBe(true);
    expect(await greedyIds(dir)).toEqual(reference);
  });

  it('feeds use_cache_branch to a merged decoder', async () => {
    const dir = await make('merged', { mergedDecoder: true });
    expect(existsSync(join(dir, 'onnx/decoder_model_merged.onnx'))).toBe(true);
    expect(await greedyIds(dir)).toEqual(reference);
  });

  it('runs an fp16 graph with an fp16 cache', async () => {
    const dir = await make('fp16', { dtype: 'fp16' });
    expect(existsSync(join(dir, 'onnx/model_fp16.onnx'))).toBe(true);
    expect((await greedyIds(dir)).length).toBeGreaterThan(0);
  });

  it('names an unsupported architecture', async () => {
    const dir = await make('unsupported');
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), model_type: 'bert' }));
    await expect(InferenceEngine.load(dir)).rejects.toThrow(new ModelLoadError('config.json: unsupported model_type "bert" (supported: llama, qwen2, qwen3, mistral, phi3, gemma, gemma2, smollm3, granite, olmo, olmo2, stablelm, starcoder2)'));
  });

  it('names a missing graph and a missing chat template', async () => {
    const dir = await make('incomplete');
    rmSync(join(dir, 'onnx'), { recursive: true });
    await expect(InferenceEngine.load(dir)).rejects.toThrow(/no ONNX graph in .*onnx\/model\.onnx/);
    mkdirSync(join(dir, 'onnx'));
    await generateModel({ outDir: join(root, 'donor'), preset: 'tiny', seed: 21 });
    renameSync(join(root, 'donor/onnx/model.onnx'), join(dir, 'onnx/model.onnx'));
    const tokenizerConfigPath = join(dir, 'tokenizer_config.json');
    const { chat_template: _dropped, ...rest } = JSON.parse(readFileSync(tokenizerConfigPath, 'utf8'));
    writeFileSync(tokenizerConfigPath, JSON.stringify(rest));
    await expect(InferenceEngine.load(dir)).rejects.toThrow('tokenizer_config.json has no chat_template');
  });

  const cudaProvider = join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so');
  (existsSync(cudaProvider) ? it.skip : it)('explains that the CUDA provider is missing when device "cuda" is requested without it', async () => {
    const dir = await make('cuda');
    await expect(InferenceEngine.load(dir, { device: 'cuda' })).rejects.toThrow(ModelLoadError);
    await expect(InferenceEngine.load(dir, { device: 'cuda' })).rejects.toThrow(/CUDA execution provider/);
  });
});
