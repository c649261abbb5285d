import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateModel } from '@chattensor/inference';

/** Files that make a model folder speak the served model's tokens and chat template. */
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
];

/**
 * Writes into `outDir` (once; kept when it is there) what an `other-model`
 * cheater serves instead of the real model: a model of the generated tiny
 * shape (random weights, a fraction of the cost per token) under the served
 * model's vocabulary, tokenizer, chat template and special token ids, so
 * its answers look like the served model's in every field but the tokens'
 * probabilities.
 */
export async function cheaperModelLike(servedDir: string, outDir: string): Promise<string> {
  if (existsSync(join(outDir, 'config.json'))) return outDir;
  const served = JSON.parse(readFileSync(join(servedDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const vocabSize = Number(served.vocab_size);
  if (!Number.isInteger(vocabSize) || vocabSize <= 0)
    throw new Error(`${join(servedDir, 'config.json')} has no vocab_size`);
  await generateModel({
    outDir,
    preset: 'tiny',
    seed: 101,
    vocabSize,
    maxPositions: Number(served.max_position_embeddings) || undefined,
    name: 'cheaper-model',
  });
  for (const file of TOKENIZER_FILES)
    if (existsSync(join(servedDir, file))) copyFileSync(join(servedDir, file), join(outDir, file));
  const configPath = join(outDir, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  for (const key of ['bos_token_id', 'eos_token_id', 'pad_token_id'])
    if (key in served) config[key] = served[key];
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  return outDir;
}
