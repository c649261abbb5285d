import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceEngine } from '../src/engine/inference-engine';
import { ReferenceModel } from '../src/engine/reference-model';
import { generateModel } from '../src/generator/generate-model';

/** A tiny generated model with an engine serving it and a reference model scoring against it. */
export interface TinyEngineAndReference {
  /** The model folder. */
  modelDir: string;
  engine: InferenceEngine;
  reference: ReferenceModel;
}

/**
 * Registers beforeAll/afterAll hooks that generate a tiny model (weights from
 * `seed`) in a temporary folder named after `name`, load an engine (two batch
 * rows) and a reference model on it, one onnxruntime thread each, and remove
 * it all afterwards. The returned object is filled in by beforeAll.
 */
export function tinyEngineAndReference(name: string, seed: number): TinyEngineAndReference {
  const fixture = {} as TinyEngineAndReference;
  let root = '';
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), `${name}-`));
    fixture.modelDir = join(root, 'tiny');
    await generateModel({ outDir: fixture.modelDir, preset: 'tiny', seed });
    fixture.engine = await InferenceEngine.load(fixture.modelDir, { maxBatchSize: 2, intraOpThreads: 1 });
    fixture.reference = await ReferenceModel.load(fixture.modelDir, { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await fixture.engine?.close();
    await fixture.reference?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });
  return fixture;
}
