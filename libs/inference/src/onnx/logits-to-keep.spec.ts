/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecoderSession } from '../engine/decoder-session';
import { emptyKvCache } from '../engine/kv-cache';
import { generateModel } from '../generator/generate-model';
import { readModelFolder } from '../model/model-folder';
import { withLogitsToKeep } from './logits-to-keep';

describe('withLogitsToKeep', () => {
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'logits-to-keep-'));
    await generateModel({ outDir: join(root, 'tiny'), preset: 'tiny', seed: 8 });
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('adds a logits_to_keep input once, and leaves a graph that has one alone', () => {
    const folder = readModelFolder(join(root, 'tiny'));
    const rewritten = withLogitsToKeep(readFileSync(folder.onnxPath));
    expect(rewritten).toBeInstanceOf(Buffer);
    expect(withLogitsToKeep(rewritten!)).toBeUndefined();
  });

  it('returns the logits of the last N positions, the same as a full pass gives them', async () => {
    const folder = readModelFolder(join(root, 'tiny'));
    const full = await DecoderSession.create(folder.onnxPath, folder.config, {
      device: 'cpu',
      intraOpThreads: 1,
    });
    const kept = await DecoderSession.create(folder.onnxPath, folder.config, {
      device: 'cpu',
      intraOpThreads: 1,
      logitsToKeep: true,
    });
    try {
      const ids = [5, 17, 42, 9, 33, 71, 12, 8, 64, 3];
      const input = (keepLogits?: number) => ({
        batch: 1,
        seqLength: ids.length,
        inputIds: BigInt64Array.from(ids, BigInt),
        positionIds: BigInt64Array.from(ids, (_, index) => BigInt(index)),
        attentionMask: new BigInt64Array(ids.length).fill(1n),
        past: emptyKvCache(full.layout, 1),
        allLogits: true,
        keepLogits,
      });
      const all = await full.forward(input());
      const vocab = full.vocabSize;
      expect(all.positions).toBe(ids.length);
      for (const keep of [1, 3, ids.length]) {
        const last = await kept.forward(input(keep));
        expect(last.positions).toBe(keep);
        expect(last.logits).toHaveLength(keep * vocab);
        const expected = all.logits!.subarray((ids.length - keep) * vocab);
        let largest = 0;
        for (let i = 0; i < expected.length; i++)
          largest = Math.max(largest, Math.abs(last.logits![i] - expected[i]));
        expect(largest).toBeLessThan(1e-4);
        // The cache covers every position fed, whatever the logits kept.
        expect(last.present.length).toBe(ids.length);
        expect(Array.from(last.lastLogits[0])).toEqual(Array.from(last.logits!.subarray((keep - 1) * vocab)));
      }
      // Without logits: only the last position, as the engine asks.
      const step = await kept.forward({ ...input(), allLogits: false });
      expect(step.positions).toBe(1);
    } finally {
      await full.release();
      await kept.release();
    }
  });
});
