import { StopSequenceMatcher } from './stop-matcher';

describe('StopSequenceMatcher', () => {
  it('finds a stop sequence split across deltas and emits only the text before it', () => {
    const matcher = new StopSequenceMatcher(['###', 'END']);
    expect(matcher.push('Hello #')).toEqual({ text: 'Hello ', stopped: false });
    expect(matcher.push('#')).toEqual({ text: '', stopped: false });
    expect(matcher.push('# tail')).toEqual({ text: '', stopped: true });
  });

  it('releases held-back text once it can no longer start a stop sequence', () => {
    const matcher = new StopSequenceMatcher(['###']);
    expect(matcher.push('a#')).toEqual({ text: 'a', stopped: false });
    expect(matcher.push('b')).toEqual({ text: '#b', stopped: false });
    expect(matcher.push('#')).toEqual({ text: '', stopped: false });
    expect(matcher.flush()).toBe('#');
  });

  it('stops at the earliest of several stop sequences', () => {
    const matcher = new StopSequenceMatcher(['world', 'lo']);
    expect(matcher.push('hello world')).toEqual({ text: 'hel', stopped: true });
  });

  it('passes text straight through without stop sequences', () => {
    expect(new StopSequenceMatcher([]).push('abc')).toEqual({ text: 'abc', stopped: false });
  });
});
