import type { minerV1 } from '@chattensor/protocol';

/**
 * Material for synthetic questions, shipped with the validator: system
 * prompts, topics, requests in several languages, code to explain and
 * multi-turn openings. Every question also carries random details (names,
 * numbers, a topic pair), so no two are alike and a miner cannot answer from
 * a cache of earlier answers.
 */
const SYSTEM_PROMPTS = [
  'You are a helpful assistant.',
  'You are a concise assistant. Answer in at most three sentences.',
  'You are a patient teacher who explains things step by step.',
  'You are a senior software engineer reviewing code.',
  'You answer in the language of the question.',
  'You are a travel guide with a sense of humour.',
];

const TOPICS = [
  'the water cycle',
  'binary search',
  'the history of the printing press',
  'photosynthesis',
  'compound interest',
  'how vaccines work',
  'the rules of chess',
  'plate tectonics',
  'public key cryptography',
  'the French revolution',
  'sourdough bread',
  'black holes',
  'the TCP handshake',
  'supply and demand',
  'the Roman aqueducts',
  'garbage collection',
  'coral reefs',
  'the stock exchange',
  'renewable energy',
  'the human immune system',
  'consensus protocols',
  'the violin',
  'volcanoes',
  'machine translation',
  'the Silk Road',
];

const NAMES = [
  'Ada',
  'Bruno',
  'Chen',
  'Dalia',
  'Emeka',
  'Farah',
  'Goran',
  'Hana',
  'Ines',
  'Jonas',
  'Kiri',
  'Lena',
];

const ASKS: ((topic: string, name: string, n: number) => string)[] = [
  (t, _, n) => `Explain ${t} in simple terms, in about ${20 + (n % 80)} words.`,
  (t, _, n) => `Give me ${2 + (n % 4)} facts about ${t}.`,
  (t, name) => `${name} asked me about ${t}. How should I explain it to a ten-year-old?`,
  (t, name, n) => `Write a short poem of ${2 + (n % 3)} lines about ${t} for ${name}.`,
  (t, name) => `What are the most common misconceptions ${name} might have about ${t}?`,
  (t, name, n) => `Summarise ${t} for ${name}, who has ${n % 60} minutes before an exam.`,
  (t, name, n) => `Compare ${t} with something ${name} does every day, in ${1 + (n % 5)} sentences.`,
  (t, name, n) => `List ${3 + (n % 3)} questions ${name} might ask about ${t}, then answer the first.`,
];

const FOREIGN: ((topic: string, name: string, n: number) => string)[] = [
  (t, name) => `Peux-tu expliquer ${t} à ${name} en quelques phrases ?`,
  (t, _, n) => `Erkläre mir bitte ${t} in ${2 + (n % 4)} Sätzen.`,
  (t, name) => `¿Puedes explicarle ${t} a ${name} de forma sencilla?`,
  (t, _, n) => `Explique ${t} em ${2 + (n % 3)} frases curtas.`,
  (t, name) => `Spiega ${t} a ${name} con un esempio.`,
];

const CODE = [
  (n: number) =>
    `function total(xs) {\n  let s = 0;\n  for (const x of xs) s += x * ${n % 100};\n  return s;\n}`,
  (n: number) =>
    `def window(items, k=${2 + (n % 50)}):\n    return [items[i:i + k] for i in range(len(items) - k + 1)]`,
  (n: number) =>
    `SELECT name, COUNT(*) FROM orders WHERE amount > ${n % 1000} GROUP BY name ORDER BY 2 DESC;`,
  (n: number) => `fn clamp(x: i64) -> i64 {\n    x.max(0).min(${n % 500})\n}`,
];

const CODE_ASKS = [
  'What does this code do?',
  'Find a bug or an edge case in this code.',
  'Rewrite this more clearly.',
];

/** Stop strings common enough in generated text to end some answers early. */
const STOPS = ['.', '\n', ',', ' the', '?', 'e'];

/** A small deterministic generator (mulberry32), so a seeded bank reproduces its questions. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How a synthetic question decodes: the mix covers greedy, seeded sampling and stop strings. */
export type SamplingKind = 'greedy' | 'greedy-stop' | 'top-k' | 'top-p' | 'min-p';

export interface SyntheticQuestion {
  request: minerV1.GenerateRequest;
  kind: SamplingKind;
}

export class QuestionBank {
  constructor(
    private readonly random: () => number = Math.random,
    private readonly maxTokens = 48,
  ) {}

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  private int(below: number): number {
    return Math.floor(this.random() * below);
  }

  messages(): minerV1.ChatMessage[] {
    const topic = this.pick(TOPICS);
    const name = this.pick(NAMES);
    const n = this.int(10_000);
    const shape = this.random();
    const out: minerV1.ChatMessage[] = [];
    if (this.random() < 0.5) out.push({ role: 'system', content: this.pick(SYSTEM_PROMPTS) });
    if (shape < 0.45) out.push({ role: 'user', content: this.pick(ASKS)(topic, name, n) });
    else if (shape < 0.65) out.push({ role: 'user', content: this.pick(FOREIGN)(topic, name, n) });
    else if (shape < 0.8)
      out.push({ role: 'user', content: `${this.pick(CODE_ASKS)}\n\n${this.pick(CODE)(n)}` });
    else {
      // Multi-turn: an earlier exchange, then a follow-up.
      const other = this.pick(TOPICS);
      out.push(
        { role: 'user', content: this.pick(ASKS)(topic, name, n) },
        {
          role: 'assistant',
          content: `${topic[0].toUpperCase()}${topic.slice(1)} is a broad subject; here is a short overview, ${name}.`,
        },
        {
          role: 'user',
          content: `Thanks. How does it relate to ${other}? Answer with ${1 + (n % 4)} examples.`,
        },
      );
    }
    // Longer prompts now and then: a context paragraph first.
    if (this.random() < 0.2) {
      const context = Array.from(
        { length: 2 + this.int(6) },
        () => `Note ${this.int(1000)}: ${this.pick(TOPICS)} matters to ${this.pick(NAMES)}.`,
      ).join(' ');
      const last = out[out.length - 1];
      last.content = `${context}\n\n${last.content}`;
    }
    return out;
  }

  question(): SyntheticQuestion {
    const roll = this.random();
    const kind: SamplingKind =
      roll < 0.35
        ? 'greedy'
        : roll < 0.55
          ? 'greedy-stop'
          : roll < 0.75
            ? 'top-k'
            : roll < 0.9
              ? 'top-p'
              : 'min-p';
    const maxTokens = 8 + this.int(Math.max(1, this.maxTokens - 7));
    const sampling: minerV1.SamplingParams = {
      maxTokens,
      topK: 0,
      stop: [],
      presencePenalty: 0,
      frequencyPenalty: 0,
      minP: 0,
      repetitionPenalty: 0,
    };
    if (kind === 'greedy' || kind === 'greedy-stop') sampling.temperature = 0;
    else {
      sampling.temperature = 0.5 + Math.round(this.random() * 8) / 10;
      sampling.seed = BigInt(this.int(2 ** 32));
      if (kind === 'top-k') sampling.topK = 4 + this.int(37);
      if (kind === 'top-p') sampling.topP = 0.6 + Math.round(this.random() * 3) / 10;
      if (kind === 'min-p') sampling.minP = 0.05 + Math.round(this.random() * 10) / 100;
    }
    if (kind === 'greedy-stop' || (kind !== 'greedy' && this.random() < 0.3))
      sampling.stop = [this.pick(STOPS)];
    return {
      kind,
      request: {
        requestId: `synthetic-${Math.floor(this.random() * 2 ** 48).toString(36)}`,
        messages: this.messages(),
        sampling,
        model: '',
      },
    };
  }
}
