import { QuestionBank, seededRandom } from './synthetic-questions';

describe('QuestionBank', () => {
  const questions = Array.from(
    { length: 400 },
    (
      (bank) => () =>
        bank.question()
    )(new QuestionBank(seededRandom(1), 48)),
  );

  it('never asks the same question twice', () => {
    const prompts = questions.map((q) => JSON.stringify(q.request.messages));
    expect(new Set(prompts).size).toBe(prompts.length);
  });

  it('mixes greedy, seeded sampling and stop strings, system prompts and multi-turn conversations', () => {
    const kinds = new Set(questions.map((q) => q.kind));
    expect([...kinds].sort()).toEqual(['greedy', 'greedy-stop', 'min-p', 'top-k', 'top-p']);
    const sampled = questions.filter((q) => q.kind !== 'greedy' && q.kind !== 'greedy-stop');
    expect(
      sampled.every((q) => q.request.sampling!.seed !== undefined && q.request.sampling!.temperature! > 0),
    ).toBe(true);
    expect(
      questions.filter((q) => q.kind === 'greedy').every((q) => q.request.sampling!.temperature === 0),
    ).toBe(true);
    expect(questions.some((q) => q.request.sampling!.stop.length > 0)).toBe(true);
    expect(questions.some((q) => q.request.messages[0].role === 'system')).toBe(true);
    expect(questions.some((q) => q.request.messages.some((m) => m.role === 'assistant'))).toBe(true);
  });

  it('keeps answers between 8 tokens and the configured maximum', () => {
    const lengths = questions.map((q) => q.request.sampling!.maxTokens);
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(8);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(48);
  });

  it('asks the same questions again from the same seed', () => {
    const again = new QuestionBank(seededRandom(1), 48);
    expect(again.question().request.messages).toEqual(questions[0].request.messages);
  });
});
