import { ScoreHistory } from './score-history';

describe('ScoreHistory', () => {
  it('keeps one sample per interval and only the most recent ones', () => {
    const history = new ScoreHistory(1000, 3);
    for (let t = 0; t < 5000; t += 500) history.observe([{ uid: 1, hotkey: 'a', score: t / 1000 }], t);
    expect(history.of(1, 'a')).toEqual([2, 3, 4]);
  });

  it('starts over for a uid that changed hands', () => {
    const history = new ScoreHistory(1000, 10);
    history.observe([{ uid: 1, hotkey: 'a', score: 0.5 }], 0);
    history.observe([{ uid: 1, hotkey: 'b', score: 0.1 }], 1000);
    expect(history.of(1, 'a')).toEqual([]);
    expect(history.of(1, 'b')).toEqual([0.1]);
  });
});
