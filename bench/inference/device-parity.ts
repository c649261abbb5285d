// Greedy generation on the GPU against the CPU, for a machine with the CUDA
// provider: the same model folder, the same prompts, token ids compared.
// Float sums run in a different order on the two devices, so a long
// generation may part ways where two logits are nearly tied; the report
// gives the length of the common prefix and the first differing tokens.
//
//   node dist/bench/inference/device-parity.js <model dir> [new tokens]
import { InferenceEngine, type ChatTurn } from '@chattensor/inference';

const PROMPTS: ChatTurn[][] = [
  [{ role: 'user', content: 'Tell me about the river and the three towns.' }],
  [{ role: 'user', content: 'What is the capital of the valley?' }],
  [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'Write two sentences about farms near the sea.' },
  ],
  [{ role: 'user', content: 'Count: one two three four five six seven eight nine ten' }],
];

async function greedy(modelDir: string, device: 'cpu' | 'cuda', newTokens: number): Promise<number[][]> {
  const engine = await InferenceEngine.load(modelDir, { device, maxBatchSize: 1 });
  try {
    const results: number[][] = [];
    for (const prompt of PROMPTS) {
      const ids: number[] = [];
      for await (const chunk of engine.generate(prompt, {
        temperature: 0,
        maxTokens: newTokens,
        ignoreEos: true,
      }))
        ids.push(...chunk.tokenIds);
      results.push(ids);
    }
    return results;
  } finally {
    await engine.close();
  }
}

async function main(): Promise<void> {
  const [modelDir, tokensArg = '64'] = process.argv.slice(2);
  if (!modelDir) {
    console.error('usage: device-parity <model dir> [new tokens]');
    process.exit(2);
  }
  const newTokens = Number(tokensArg);
  const cpu = await greedy(modelDir, 'cpu', newTokens);
  const cuda = await greedy(modelDir, 'cuda', newTokens);
  let identical = 0;
  PROMPTS.forEach((_, index) => {
    const a = cpu[index];
    const b = cuda[index];
    let common = 0;
    while (common < a.length && common < b.length && a[common] === b[common]) common++;
    if (common === a.length && a.length === b.length) identical++;
    console.log(
      `prompt ${index}: ${common}/${a.length} tokens identical${common < a.length ? ` (cpu ${a[common]} vs cuda ${b[common]} at ${common})` : ''}`,
    );
  });
  console.log(`${modelDir}: ${identical}/${PROMPTS.length} greedy generations identical on cpu and cuda`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
