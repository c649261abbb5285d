import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecoderSession } from '../engine/decoder-session';
import { emptyKvCache } from '../engine/kv-cache';
import { Xoshiro128 } from '../generator/prng';
import { readModelFolder } from '../model/model-folder';
import { ChatTemplate } from '../tokenizer/chat-template';
import { BYTE_LEVEL_ALPHABET } from '../tokenizer/byte-level';
import { Tokenizer } from '../tokenizer/tokenizer';
import { GgmlType, GgufFile, GgufValueType } from './gguf-file';
import { importGguf, unpermuteRotaryRows } from './gguf-import';
import { dequantizeNBits, toLinearWeight, type NBitsLinear } from './gguf-quant';
import { encodeGguf, writeGguf, type GgufEntry, type GgufTensorSpec } from './gguf-writer';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../onnx/onnx-builder';

/*
 * The importer against ggml's own definitions: the block formats are decoded
 * here independently (transcriptions of ggml's dequantize_row_* loops, in
 * ggml's element order), and a small llama model in GGUF is run both through
 * the imported ONNX graph (real onnxruntime) and through a float64 forward
 * pass written the way llama.cpp computes it, on the GGUF tensors as stored:
 * Q and K rows in the converter's interleaved order with rotary embeddings
 * on adjacent pairs. Agreement proves the row permutation is undone.
 */

const rng = new Xoshiro128(11);
const uniform = (low: number, high: number): number => low + (high - low) * rng.nextFloat();
const f16 = (value: number): number => float32ToFloat16Bits(value);
const half = (buffer: Buffer, offset: number): number => float16BitsToFloat32(buffer.readUInt16LE(offset));

/** Random blocks of a ggml type, `rows` rows of K elements, with magnitudes that keep a small model's activations sane. */
function randomTensor(type: GgmlType, K: number, rows: number): Buffer {
  const parts: Buffer[] = [];
  const byte = (): number => rng.nextUint32() & 255;
  for (let r = 0; r < rows; r++) {
    switch (type) {
      case GgmlType.F32: {
        const b = Buffer.alloc(K * 4);
        for (let i = 0; i < K; i++) b.writeFloatLE(uniform(-0.08, 0.08), i * 4);
        parts.push(b);
        break;
      }
      case GgmlType.F16: {
        const b = Buffer.alloc(K * 2);
        for (let i = 0; i < K; i++) b.writeUInt16LE(f16(uniform(-0.08, 0.08)), i * 2);
        parts.push(b);
        break;
      }
      case GgmlType.Q4_0:
      case GgmlType.Q4_1:
        for (let blk = 0; blk < K / 32; blk++) {
          const withMin = type === GgmlType.Q4_1;
          const b = Buffer.alloc(withMin ? 20 : 18);
          b.writeUInt16LE(f16(uniform(0.005, 0.012)), 0);
          if (withMin) b.writeUInt16LE(f16(uniform(-0.09, -0.06)), 2);
          for (let i = withMin ? 4 : 2; i < b.length; i++) b[i] = byte();
          parts.push(b);
        }
        break;
      case GgmlType.Q8_0:
        for (let blk = 0; blk < K / 32; blk++) {
          const b = Buffer.alloc(34);
          b.writeUInt16LE(f16(uniform(0.0003, 0.0008)), 0);
          for (let i = 2; i < 34; i++) b[i] = byte();
          parts.push(b);
        }
        break;
      case GgmlType.Q4_K:
        for (let blk = 0; blk < K / 256; blk++) {
          const b = Buffer.alloc(144);
          b.writeUInt16LE(f16(uniform(0.0002, 0.0004)), 0);
          b.writeUInt16LE(f16(uniform(0.0002, 0.0004)), 2);
          for (let i = 4; i < 144; i++) b[i] = byte();
          parts.push(b);
        }
        break;
      case GgmlType.Q6_K:
        for (let blk = 0; blk < K / 256; blk++) {
          const b = Buffer.alloc(210);
          for (let i = 0; i < 208; i++) b[i] = byte();
          for (let i = 192; i < 208; i++) b[i] = (Math.floor(uniform(-24, 24)) + 256) & 255;
          b.writeUInt16LE(f16(uniform(0.00005, 0.0001)), 208);
          parts.push(b);
        }
        break;
      default: {
        // Any other type: bytes of the right size, for the error paths.
        const sizes: Partial<Record<GgmlType, number>> = { [GgmlType.Q5_0]: 22 };
        parts.push(Buffer.alloc(((sizes[type] ?? 0) * K) / 32));
      }
    }
  }
  return Buffer.concat(parts);
}

/** ggml's dequantize_row_* for the supported types, element by element in ggml order. */
function referenceDequantize(type: GgmlType, data: Buffer, count: number): Float64Array {
  const y = new Float64Array(count);
  switch (type) {
    case GgmlType.F32:
      for (let i = 0; i < count; i++) y[i] = data.readFloatLE(i * 4);
      return y;
    case GgmlType.F16:
      for (let i = 0; i < count; i++) y[i] = half(data, i * 2);
      return y;
    case GgmlType.Q4_0:
    case GgmlType.Q4_1: {
      const size = type === GgmlType.Q4_1 ? 20 : 18;
      for (let b = 0; b < count / 32; b++) {
        const o = b * size;
        const d = half(data, o);
        const m = type === GgmlType.Q4_1 ? half(data, o + 2) : 0;
        const qs = o + (type === GgmlType.Q4_1 ? 4 : 2);
        for (let j = 0; j < 16; j++) {
          const x0 = data[qs + j] & 0x0f;
          const x1 = data[qs + j] >> 4;
          y[b * 32 + j] = type === GgmlType.Q4_1 ? x0 * d + m : (x0 - 8) * d;
          y[b * 32 + j + 16] = type === GgmlType.Q4_1 ? x1 * d + m : (x1 - 8) * d;
        }
      }
      return y;
    }
    case GgmlType.Q8_0:
      for (let b = 0; b < count / 32; b++) {
        const d = half(data, b * 34);
        for (let j = 0; j < 32; j++) y[b * 32 + j] = data.readInt8(b * 34 + 2 + j) * d;
      }
      return y;
    case GgmlType.Q4_K:
      for (let b = 0; b < count / 256; b++) {
        const o = b * 144;
        const d = half(data, o);
        const min = half(data, o + 2);
        const scaleMin = (j: number): [number, number] => {
          const q = o + 4;
          if (j < 4) return [data[q + j] & 63, data[q + j + 4] & 63];
          return [(data[q + j + 4] & 0xf) | ((data[q + j - 4] >> 6) << 4), (data[q + j + 4] >> 4) | ((data[q + j] >> 6) << 4)];
        };
        let q = o + 16;
        let out = b * 256;
        for (let j = 0, is = 0; j < 256; j += 64, is += 2) {
          const [sc1, m1] = scaleMin(is);
          const [sc2, m2] = scaleMin(is + 1);
          for (let l = 0; l < 32; l++) y[out++] = d * sc1 * (data[q + l] & 0xf) - min * m1;
          for (let l = 0; l < 32; l++) y[out++] = d * sc2 * (data[q + l] >> 4) - min * m2;
          q += 32;
        }
      }
      return y;
    case GgmlType.Q6_K:
      for (let b = 0; b < count / 256; b++) {
        const o = b * 210;
        const d = half(data, o + 208);
        for (let n = 0; n < 2; n++) {
          const ql = o + n * 64;
          const qh = o + 128 + n * 32;
          const sc = o + 192 + n * 8;
          const out = b * 256 + n * 128;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const q1 = ((data[ql + l] & 0xf) | (((data[qh + l] >> 0) & 3) << 4)) - 32;
            const q2 = ((data[ql + l + 32] & 0xf) | (((data[qh + l] >> 2) & 3) << 4)) - 32;
            const q3 = ((data[ql + l] >> 4) | (((data[qh + l] >> 4) & 3) << 4)) - 32;
            const q4 = ((data[ql + l + 32] >> 4) | (((data[qh + l] >> 6) & 3) << 4)) - 32;
            y[out + l] = d * data.readInt8(sc + is) * q1;
            y[out + l + 32] = d * data.readInt8(sc + is + 2) * q2;
            y[out + l + 64] = d * data.readInt8(sc + is + 4) * q3;
            y[out + l + 96] = d * data.readInt8(sc + is + 6) * q4;
          }
        }
      }
      return y;
    default:
      throw new Error(`no reference for ${type}`);
  }
}

describe('ggml block formats in MatMulNBits layout', () => {
  it.each([
    ['Q4_0', GgmlType.Q4_0, 64],
    ['Q4_1', GgmlType.Q4_1, 64],
    ['Q8_0', GgmlType.Q8_0, 64],
    ['Q4_K', GgmlType.Q4_K, 512],
    ['Q6_K', GgmlType.Q6_K, 512],
  ])('%s carries every weight unchanged (to float32 rounding)', (_, type, K) => {
    const N = 3;
    const raw = randomTensor(type, K, N);
    const linear = toLinearWeight(type, raw, K, N, 'w') as NBitsLinear;
    expect(linear.kind).toBe('nbits');
    const ours = dequantizeNBits(linear);
    const reference = referenceDequantize(type, raw, K * N);
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(ours[i] - reference[i]) / (Math.abs(reference[i]) + 1e-3));
    expect(worst).toBeLessThan(1e-5);
  });

  it('names the tensor and its type when the type is not supported', () => {
    expect(() => toLinearWeight(GgmlType.Q5_0, Buffer.alloc(22), 32, 1, 'blk.3.attn_q.weight')).toThrow(
      /tensor blk\.3\.attn_q\.weight has type Q5_0.*supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K/,
    );
  });
});

// A small llama model: K-quants need rows of 256.
const HIDDEN = 256;
const HEADS = 4;
const KV_HEADS = 2;
const HEAD_DIM = HIDDEN / HEADS;
const FFN = 512;
const LAYERS = 2;
const ROPE_BASE = 10000;
const EPS = 1e-5;
const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
const MERGES = ['Ġ t', 'h e', 'Ġt he', 'i n', 'Ġ a', '1 2'];
const TOKENS = [...SPECIALS, ...BYTE_LEVEL_ALPHABET, ...MERGES.map((merge) => merge.replace(' ', ''))];
const VOCAB = TOKENS.length;
const TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a test model.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Types per layer: layer 0 mixes formats inside the q/k/v group (imported unfused), layer 1 fuses them. */
const LAYER_TYPES: Record<string, GgmlType>[] = [
  { attn_q: GgmlType.Q4_K, attn_k: GgmlType.Q4_K, attn_v: GgmlType.Q6_K, attn_output: GgmlType.Q4_0, ffn_gate: GgmlType.Q4_1, ffn_up: GgmlType.Q4_1, ffn_down: GgmlType.Q8_0 },
  { attn_q: GgmlType.Q4_1, attn_k: GgmlType.Q4_1, attn_v: GgmlType.Q4_1, attn_output: GgmlType.F16, ffn_gate: GgmlType.F32, ffn_up: GgmlType.F32, ffn_down: GgmlType.Q6_K },
];

function metadata(overrides: Record<string, string> = {}): GgufEntry[] {
  return [
    { key: 'general.architecture', type: GgufValueType.STRING, value: overrides.architecture ?? 'llama' },
    { key: 'general.name', type: GgufValueType.STRING, value: 'Test Llama' },
    { key: 'llama.block_count', type: GgufValueType.UINT32, value: LAYERS },
    { key: 'llama.context_length', type: GgufValueType.UINT32, value: 256 },
    { key: 'llama.embedding_length', type: GgufValueType.UINT32, value: HIDDEN },
    { key: 'llama.feed_forward_length', type: GgufValueType.UINT32, value: FFN },
    { key: 'llama.attention.head_count', type: GgufValueType.UINT32, value: HEADS },
    { key: 'llama.attention.head_count_kv', type: GgufValueType.UINT32, value: KV_HEADS },
    { key: 'llama.rope.freq_base', type: GgufValueType.FLOAT32, value: ROPE_BASE },
    { key: 'llama.attention.layer_norm_rms_epsilon', type: GgufValueType.FLOAT32, value: EPS },
    { key: 'llama.rope.dimension_count', type: GgufValueType.UINT32, value: HEAD_DIM },
    { key: 'tokenizer.ggml.model', type: GgufValueType.STRING, value: overrides.tokenizer ?? 'gpt2' },
    { key: 'tokenizer.ggml.pre', type: GgufValueType.STRING, value: 'smollm' },
    { key: 'tokenizer.ggml.tokens', type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: TOKENS },
    { key: 'tokenizer.ggml.token_type', type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: TOKENS.map((_, id) => (id < SPECIALS.length ? 3 : 1)) },
    { key: 'tokenizer.ggml.merges', type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: MERGES },
    { key: 'tokenizer.ggml.bos_token_id', type: GgufValueType.UINT32, value: 1 },
    { key: 'tokenizer.ggml.eos_token_id', type: GgufValueType.UINT32, value: 2 },
    { key: 'tokenizer.ggml.padding_token_id', type: GgufValueType.UINT32, value: 2 },
    { key: 'tokenizer.ggml.add_bos_token', type: GgufValueType.BOOL, value: false },
    { key: 'tokenizer.chat_template', type: GgufValueType.STRING, value: TEMPLATE },
  ];
}

function modelTensors(override?: { name: string; type: GgmlType }): GgufTensorSpec[] {
  const tensors: GgufTensorSpec[] = [];
  const add = (name: string, type: GgmlType, K: number, rows: number): void => {
    const t = override?.name === name ? override.type : type;
    tensors.push({ name, dims: rows === 1 ? [K] : [K, rows], type: t, data: randomTensor(t, K, rows) });
  };
  const norm = (name: string): void => {
    const b = Buffer.alloc(HIDDEN * 4);
    for (let i = 0; i < HIDDEN; i++) b.writeFloatLE(uniform(0.8, 1.2), i * 4);
    tensors.push({ name, dims: [HIDDEN], type: GgmlType.F32, data: b });
  };
  tensors.push({ name: 'token_embd.weight', dims: [HIDDEN, VOCAB], type: GgmlType.Q8_0, data: (() => {
    // Embeddings need a larger scale than projections.
    const raw = randomTensor(GgmlType.Q8_0, HIDDEN, VOCAB);
    for (let b = 0; b < raw.length / 34; b++) raw.writeUInt16LE(f16(uniform(0.006, 0.01)), b * 34);
    return raw;
  })() });
  for (let layer = 0; layer < LAYERS; layer++) {
    const types = LAYER_TYPES[layer];
    norm(`blk.${layer}.attn_norm.weight`);
    add(`blk.${layer}.attn_q.weight`, types.attn_q, HIDDEN, HEADS * HEAD_DIM);
    add(`blk.${layer}.attn_k.weight`, types.attn_k, HIDDEN, KV_HEADS * HEAD_DIM);
    add(`blk.${layer}.attn_v.weight`, types.attn_v, HIDDEN, KV_HEADS * HEAD_DIM);
    add(`blk.${layer}.attn_output.weight`, types.attn_output, HIDDEN, HIDDEN);
    norm(`blk.${layer}.ffn_norm.weight`);
    add(`blk.${layer}.ffn_gate.weight`, types.ffn_gate, HIDDEN, FFN);
    add(`blk.${layer}.ffn_up.weight`, types.ffn_up, HIDDEN, FFN);
    add(`blk.${layer}.ffn_down.weight`, types.ffn_down, FFN, HIDDEN);
  }
  norm('output_norm.weight');
  return tensors;
}

/**
 * Logits [positions][vocab] of llama.cpp's computation in float64 on the GGUF
 * tensors as stored. `rotary` 'pairs' is llama.cpp's (adjacent elements, the
 * layout its converter writes Q and K in); 'halves' is what a graph that
 * forgot to undo the converter's permutation would compute.
 */
function referenceLogits(file: GgufFile, ids: number[], rotary: 'pairs' | 'halves'): Float64Array[] {
  const cache = new Map<string, Float64Array>();
  const w = (name: string): Float64Array => {
    let values = cache.get(name);
    if (!values) {
      const info = file.tensor(name)!;
      values = referenceDequantize(info.type, file.read(name), info.dims.reduce((a, b) => a * b, 1));
      cache.set(name, values);
    }
    return values;
  };
  const matvec = (name: string, x: Float64Array, K: number): Float64Array => {
    const m = w(name);
    const N = m.length / K;
    const y = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let k = 0; k < K; k++) sum += m[n * K + k] * x[k];
      y[n] = sum;
    }
    return y;
  };
  const rmsNorm = (x: Float64Array, name: string): Float64Array => {
    const scale = w(name);
    let sum = 0;
    for (const v of x) sum += v * v;
    const inv = 1 / Math.sqrt(sum / x.length + EPS);
    return x.map((v, i) => v * inv * scale[i]);
  };
  const rope = (vector: Float64Array, heads: number, position: number): void => {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < HEAD_DIM / 2; i++) {
        const angle = position * ROPE_BASE ** ((-2 * i) / HEAD_DIM);
        const [a, b] = rotary === 'pairs' ? [h * HEAD_DIM + 2 * i, h * HEAD_DIM + 2 * i + 1] : [h * HEAD_DIM + i, h * HEAD_DIM + i + HEAD_DIM / 2];
        const x0 = vector[a];
        const x1 = vector[b];
        vector[a] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
        vector[b] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
      }
    }
  };
  const embed = w('token_embd.weight');
  const hidden = ids.map((id) => embed.slice(id * HIDDEN, (id + 1) * HIDDEN));
  for (let layer = 0; layer < LAYERS; layer++) {
    const keys: Float64Array[] = [];
    const values: Float64Array[] = [];
    const queries: Float64Array[] = [];
    hidden.forEach((x, position) => {
      const normed = rmsNorm(x, `blk.${layer}.attn_norm.weight`);
      const q = matvec(`blk.${layer}.attn_q.weight`, normed, HIDDEN);
      const k = matvec(`blk.${layer}.attn_k.weight`, normed, HIDDEN);
      rope(q, HEADS, position);
      rope(k, KV_HEADS, position);
      queries.push(q);
      keys.push(k);
      values.push(matvec(`blk.${layer}.attn_v.weight`, normed, HIDDEN));
    });
    hidden.forEach((x, position) => {
      const context = new Float64Array(HIDDEN);
      for (let h = 0; h < HEADS; h++) {
        const kv = Math.floor(h / (HEADS / KV_HEADS));
        const scores = [];
        for (let j = 0; j <= position; j++) {
          let dot = 0;
          for (let d = 0; d < HEAD_DIM; d++) dot += queries[position][h * HEAD_DIM + d] * keys[j][kv * HEAD_DIM + d];
          scores.push(dot / Math.sqrt(HEAD_DIM));
        }
        const max = Math.max(...scores);
        const exp = scores.map((s) => Math.exp(s - max));
        const total = exp.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= position; j++)
          for (let d = 0; d < HEAD_DIM; d++) context[h * HEAD_DIM + d] += (exp[j] / total) * values[j][kv * HEAD_DIM + d];
      }
      const attended = matvec(`blk.${layer}.attn_output.weight`, context, HIDDEN);
      for (let i = 0; i < HIDDEN; i++) x[i] += attended[i];
      const normed = rmsNorm(x, `blk.${layer}.ffn_norm.weight`);
      const gate = matvec(`blk.${layer}.ffn_gate.weight`, normed, HIDDEN);
      const up = matvec(`blk.${layer}.ffn_up.weight`, normed, HIDDEN);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = matvec(`blk.${layer}.ffn_down.weight`, act, FFN);
      for (let i = 0; i < HIDDEN; i++) x[i] += down[i];
    });
  }
  return hidden.map((x) => matvec('token_embd.weight', rmsNorm(x, 'output_norm.weight'), HIDDEN));
}

async function graphLogits(dir: string, ids: number[]): Promise<Float32Array[]> {
  const folder = readModelFolder(dir);
  const session = await DecoderSession.create(folder.onnxPath, folder.config, { device: 'cpu', intraOpThreads: 1 });
  try {
    // One position at a time through the cache, as decoding does; each step's logits are the last position's.
    const rows: Float32Array[] = [];
    let past = emptyKvCache(session.layout, 1);
    for (let position = 0; position < ids.length; position++) {
      const { lastLogits, present } = await session.forward({
        batch: 1,
        seqLength: 1,
        inputIds: BigInt64Array.of(BigInt(ids[position])),
        positionIds: BigInt64Array.of(BigInt(position)),
        attentionMask: new BigInt64Array(position + 1).fill(1n),
        past,
      });
      rows.push(lastLogits[0]);
      past = present;
    }
    return rows;
  } finally {
    await session.release();
  }
}

function maxDifference(a: ArrayLike<number>[], b: ArrayLike<number>[]): { max: number; scale: number } {
  let max = 0;
  let scale = 0;
  a.forEach((row, p) => {
    for (let i = 0; i < row.length; i++) {
      max = Math.max(max, Math.abs(row[i] - b[p][i]));
      scale = Math.max(scale, Math.abs(b[p][i]));
    }
  });
  return { max, scale };
}

describe('importGguf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-import-'));
  const ggufPath = join(dir, 'test.gguf');
  const outDir = join(dir, 'model');

  beforeAll(() => {
    writeGguf(ggufPath, metadata(), modelTensors());
    importGguf(ggufPath, outDir, { stamp: { sha256: 'test' } });
  });

  it('writes an Optimum-layout folder the model loader accepts', () => {
    const folder = readModelFolder(outDir);
    expect(folder.config).toMatchObject({ model_type: 'llama', hidden_size: HIDDEN, num_hidden_layers: LAYERS, num_attention_heads: HEADS, num_key_value_heads: KV_HEADS, vocab_size: VOCAB, tie_word_embeddings: true });
    expect(folder.generation.eosTokenIds).toEqual([2]);
    expect(folder.name).toBe('test');
    expect(JSON.parse(readFileSync(join(outDir, 'chattensor-import.json'), 'utf8'))).toMatchObject({ sha256: 'test' });
    expect(existsSync(`${outDir}.importing-${process.pid}`)).toBe(false);
  });

  it('computes what llama.cpp computes on the stored tensors (the Q/K row permutation undone)', async () => {
    const ids = [1, 40, 77, 100, 150, 200, 260, 3 + 70, 9, 120, 33, 2];
    const file = GgufFile.open(ggufPath);
    const right = referenceLogits(file, ids, 'pairs');
    const wrong = referenceLogits(file, ids, 'halves');
    file.close();
    const ours = await graphLogits(outDir, ids);
    const close = maxDifference(ours, right);
    const far = maxDifference(ours, wrong);
    // MatMulNBits quantizes activations to int8 (as llama.cpp does), so agreement is close, not exact.
    expect(close.max / close.scale).toBeLessThan(0.03);
    // Without the permutation undone, rotary embeddings rotate the wrong pairs from position 1 on.
    expect(far.max).toBeGreaterThan(5 * close.max);
    let agree = 0;
    ours.forEach((row, p) => {
      const argmax = (values: ArrayLike<number>): number => Array.prototype.indexOf.call(values, Math.max(...Array.from(values)));
      if (argmax(row) === argmax(right[p])) agree++;
    });
    expect(agree).toBeGreaterThanOrEqual(ids.length - 1);
  });

  it('builds on fused kernels that compute what the elementwise graph computes, to float32 rounding', async () => {
    // Float activations (accuracy level 1) and float32 attention on both sides, so only the node
    // structure differs (the fused Attention kernel cannot round its softmax weights to float16).
    const fusedDir = join(dir, 'fused-float');
    const plainDir = join(dir, 'plain-float');
    const numerics = { rotary: true };
    importGguf(ggufPath, fusedDir, { accuracyLevel: 1, ggml: numerics });
    importGguf(ggufPath, plainDir, { accuracyLevel: 1, ggml: numerics, fusedOps: false, externalData: false });
    expect(existsSync(join(fusedDir, 'onnx', 'model.onnx_data'))).toBe(true);
    const ids = [1, 40, 77, 100, 150, 200, 260, 3 + 70, 9, 120, 33, 2];
    const fused = await graphLogits(fusedDir, ids);
    const plain = await graphLogits(plainDir, ids);
    const { max, scale } = maxDifference(fused, plain);
    expect(max / scale).toBeLessThan(1e-5);
  });

  it('converts the vocabulary into a byte-level BPE tokenizer with the smollm pre-tokenizer', () => {
    const folder = readModelFolder(outDir);
    const tokenizer = Tokenizer.fromJson(folder.tokenizerJson);
    const id = (token: string): number => TOKENS.indexOf(token);
    expect(tokenizer.encode(' the in')).toEqual([id('Ġthe'), id('Ġ'), id('in')]);
    // Digits are split one by one before BPE, so the "1 2" merge never applies.
    expect(tokenizer.encode('123')).toEqual([id('1'), id('2'), id('3')]);
    expect(tokenizer.encode('<|im_start|>he<|im_end|>')).toEqual([1, id('he'), 2]);
    expect(tokenizer.isSpecial(1)).toBe(true);
    expect(tokenizer.decode(tokenizer.encode('Grüße, 東京 🚀  x'))).toBe('Grüße, 東京 🚀  x');
  });

  it('keeps the chat template and special tokens', () => {
    const folder = readModelFolder(outDir);
    expect(folder.tokenizerConfig).toMatchObject({ bos_token: '<|im_start|>', eos_token: '<|im_end|>', pad_token: '<|im_end|>', chat_template: TEMPLATE });
    const rendered = ChatTemplate.fromConfig(folder.tokenizerConfig).render([{ role: 'user', content: 'Hi' }]);
    expect(rendered).toBe('<|im_start|>system\nYou are a test model.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('reads GGUF version 2 and a non-default alignment', () => {
    const path = join(dir, 'v2.gguf');
    writeGguf(path, metadata(), modelTensors(), { version: 2, alignment: 64 });
    const file = GgufFile.open(path);
    expect(file.version).toBe(2);
    expect(file.dataOffset % 64).toBe(0);
    expect(file.read('output_norm.weight').length).toBe(HIDDEN * 4);
    file.close();
  });

  it('rejects what it does not support with an error naming it', () => {
    const write = (name: string, buffer: Buffer): string => {
      const path = join(dir, name);
      writeFileSync(path, buffer);
      return path;
    };
    const target = join(dir, 'rejected');
    expect(() => importGguf(write('q5.gguf', encodeGguf(metadata(), modelTensors({ name: 'blk.1.attn_q.weight', type: GgmlType.Q5_0 }))), target)).toThrow(
      /tensor blk\.1\.attn_q\.weight has type Q5_0, which the importer does not support/,
    );
    expect(() => importGguf(write('gpt2.gguf', encodeGguf(metadata({ architecture: 'gpt2' }), modelTensors())), target)).toThrow(/GGUF architecture "gpt2" is not supported \(supported: llama\)/);
    expect(() => importGguf(write('spm.gguf', encodeGguf(metadata({ tokenizer: 'llama' }), modelTensors())), target)).toThrow(/tokenizer\.ggml\.model "llama" is not supported/);
    expect(() => importGguf(write('magic.gguf', Buffer.from('not a gguf file at all')), target)).toThrow(/is not a GGUF file/);
    const v1 = encodeGguf(metadata(), []);
    v1.writeUInt32LE(1, 4);
    expect(() => importGguf(write('v1.gguf', v1), target)).toThrow(/GGUF version 1; versions 2 and 3 are supported/);
    const full = encodeGguf(metadata(), modelTensors());
    expect(() => importGguf(write('cut.gguf', full.subarray(0, full.length - 1000)), target)).toThrow(/extends past the end .*truncated/);
    expect(existsSync(target)).toBe(false);
  });

  it('maps each Hugging Face row of Q/K to the GGUF row that holds it', () => {
    // Head dimension 4: GGUF rows [h0, h2, h1, h3] per head hold Hugging Face rows [h0, h1, h2, h3] interleaved.
    expect(unpermuteRotaryRows(2, 4)).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });
});
