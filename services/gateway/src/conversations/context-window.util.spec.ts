import type { ChatTurn } from '@chattensor/protocol';
import { estimateTokens, fitHistory } from './context-window.util';

const t = (role: ChatTurn['role'], content: string): ChatTurn => ({ role, content });
const budget = { contextTokens: 100, maxTokens: 20, charsPerToken: 2, maxChars: 10_000 };

describe('fitting a conversation into the context window', () => {
  it('estimates tokens pessimistically, with the template overhead of each message', () => {
    expect(estimateTokens([t('user', 'abcde')], 2)).toBe(3 + 4);
    expect(estimateTokens([], 2)).toBe(0);
  });

  it('sends the whole history when it fits', () => {
    const history = [t('system', 'be nice'), t('user', 'hi'), t('assistant', 'hello')];
    expect(fitHistory(history, [t('user', 'next')], budget)).toEqual({
      messages: [...history, t('user', 'next')],
      dropped: 0,
    });
  });

  it('drops the oldest dialogue first, keeping system turns and the new message', () => {
    const long = 'x'.repeat(40); // 24 tokens with the overhead
    const history = [
      t('system', 'rules'),
      t('user', long),
      t('assistant', long),
      t('user', long),
      t('assistant', 'short'),
    ];
    const { messages, dropped } = fitHistory(history, [t('user', 'now')], budget);
    // 80 tokens of budget: system 7, new 6, 'short' 7, then one 24-token turn fits; the one before it does not.
    expect(messages).toEqual([
      t('system', 'rules'),
      t('user', long),
      t('assistant', 'short'),
      t('user', 'now'),
    ]);
    expect(dropped).toBe(2);
  });

  it('never starts the kept history with an answer whose question was dropped', () => {
    const history = [t('user', 'q'.repeat(100)), t('assistant', 'a'), t('user', 'b'), t('assistant', 'c')];
    const { messages } = fitHistory(history, [t('user', 'now')], { ...budget, contextTokens: 45 });
    expect(messages[0]).toEqual(t('user', 'b'));
  });

  it('reserves the answer’s max tokens and honours the character cap', () => {
    const history = [t('user', 'abcdefghij'), t('assistant', 'abcdefghij')];
    expect(fitHistory(history, [t('user', 'x')], { ...budget, maxTokens: 95 }).messages).toEqual([
      t('user', 'x'),
    ]);
    expect(fitHistory(history, [t('user', 'x')], { ...budget, maxChars: 15 }).messages).toEqual([
      t('user', 'x'),
    ]);
  });

  it('keeps the new messages even when they alone exceed the budget', () => {
    const huge = t('user', 'z'.repeat(1000));
    expect(fitHistory([t('user', 'old'), t('assistant', 'old')], [huge], budget).messages).toEqual([huge]);
  });
});
