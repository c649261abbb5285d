import { parseArgs } from 'node:util';
import { generateModel, MODEL_PRESETS, type ModelPreset } from '../generator/generate-model';

const usage = `Usage: npm run model:gen -- --out <dir> [--preset tiny|100m|400m] [--seed N] [--dtype fp32|fp16]
  [--hidden N] [--layers N] [--heads N] [--kv-heads N] [--intermediate N] [--vocab N]
  [--max-positions N] [--rope-theta N] [--tied|--untied] [--external-data] [--merged] [--chat-format llama3|chatml] [--name NAME]`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      preset: { type: 'string', default: 'tiny' },
      seed: { type: 'string' },
      dtype: { type: 'string', default: 'fp32' },
      hidden: { type: 'string' },
      layers: { type: 'string' },
      heads: { type: 'string' },
      'kv-heads': { type: 'string' },
      intermediate: { type: 'string' },
      vocab: { type: 'string' },
      'max-positions': { type: 'string' },
      'rope-theta': { type: 'string' },
      tied: { type: 'boolean' },
      untied: { type: 'boolean' },
      'external-data': { type: 'boolean', default: false },
      merged: { type: 'boolean', default: false },
      'chat-format': { type: 'string', default: 'llama3' },
      name: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.out) {
    console.log(usage);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  if (!(values.preset in MODEL_PRESETS)) throw new Error(`unknown preset "${values.preset}" (expected ${Object.keys(MODEL_PRESETS).join(', ')})`);
  if (values['chat-format'] !== 'llama3' && values['chat-format'] !== 'chatml') throw new Error(`--chat-format must be llama3 or chatml, got "${values['chat-format']}"`);
  if (values.dtype !== 'fp32' && values.dtype !== 'fp16') throw new Error(`--dtype must be fp32 or fp16, got "${values.dtype}"`);
  const int = (flag: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`--${flag} must be a positive integer, got "${value}"`);
    return parsed;
  };
  const started = Date.now();
  await generateModel({
    outDir: values.out,
    preset: values.preset as ModelPreset,
    seed: values.seed === undefined ? undefined : Number(values.seed),
    dtype: values.dtype,
    hiddenSize: int('hidden', values.hidden),
    numLayers: int('layers', values.layers),
    numHeads: int('heads', values.heads),
    numKvHeads: int('kv-heads', values['kv-heads']),
    intermediateSize: int('intermediate', values.intermediate),
    vocabSize: int('vocab', values.vocab),
    maxPositions: int('max-positions', values['max-positions']),
    ropeTheta: values['rope-theta'] === undefined ? undefined : Number(values['rope-theta']),
    tieWordEmbeddings: values.tied ? true : values.untied ? false : undefined,
    externalData: values['external-data'],
    mergedDecoder: values.merged,
    chatFormat: values['chat-format'],
    name: values.name,
  });
  console.log(`model written to ${values.out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
