import { citationLabel, citationSelection, citationTarget, splitCiteMarkers, formatBytes, formatMetrics, formatParameters, formatWhen, modelStateLabel, sessionTitle } from '../src/format';
import { ModelInfo } from '../src/types';

describe('format', () => {
  it('formats sizes and parameter counts', () => {
    expect(formatBytes(98_000_000)).toBe('98.0 MB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2_600_000_000)).toBe('2.6 GB');
    expect(formatBytes(null)).toBe('');
    expect(formatParameters(134_500_000)).toBe('135M');
    expect(formatParameters(1_700_000_000)).toBe('1.7B');
    expect(formatParameters(0)).toBe('');
  });

  it('writes the metrics line of an answer', () => {
    expect(formatMetrics({ ttft_s: 0.0912, tokens_per_s: 17.84, completion_tokens: 64, prompt_tokens: 42, total_s: 3.7 })).toBe(
      'TTFT 91 ms · 17.8 tok/s · 64 tokens (+42 prompt) · 3.7 s'
    );
    expect(formatMetrics({ ttft_s: 1.234, finish_reason: 'length' })).toBe('TTFT 1.23 s · max tokens reached');
    expect(formatMetrics(null)).toBe('');
    // a follow-up served from the prompt cache evaluates 0 prompt tokens: no "+0 prompt" (issue 20)
    expect(formatMetrics({ completion_tokens: 5, prompt_tokens: 0 })).toBe('5 tokens');
  });

  it('writes relative dates', () => {
    const now = new Date('2026-11-21T12:00:00Z');
    expect(formatWhen('2026-11-21T11:59:30Z', now)).toBe('just now');
    expect(formatWhen('2026-11-21T11:15:00Z', now)).toBe('45 min ago');
    expect(formatWhen('2026-11-21T07:00:00Z', now)).toBe('5 h ago');
    expect(formatWhen('2026-11-20T10:00:00Z', now)).toBe('yesterday');
    expect(formatWhen('garbage', now)).toBe('');
  });

  it('labels sessions, models and citations', () => {
    expect(sessionTitle({ title: '  ' })).toBe('New chat');
    expect(sessionTitle({ title: 'Plots' })).toBe('Plots');
    const m = { id: 'x', kind: 'chat', source: 'packaged', format: 'gguf', state: 'loading', progress: 0.42 } as ModelInfo;
    expect(modelStateLabel(m)).toBe('loading 42%');
    expect(modelStateLabel({ ...m, message: 'loading weights' })).toBe('loading 42%: loading weights');
    expect(modelStateLabel({ ...m, state: 'loaded', device: 'cpu' })).toBe('loaded on cpu');
    expect(citationLabel({ index: 1, source: 'docs/guide.md', location: { line: 12 } })).toBe('guide.md, line 12');
    expect(citationLabel({ index: 1, source: 'r.pdf', location: { page: 3 } })).toBe('r.pdf, p. 3');
    expect(citationLabel({ index: 1, source: 'n.ipynb', location: { cell: 0 } })).toBe('n.ipynb, cell 1');
    expect(citationLabel({ index: 1, source: 'a.md', location: { heading: 'Setup' } })).toBe('a.md › Setup');
    expect(citationLabel({ index: 1, source: 'plain.txt' })).toBe('plain.txt');
    // the shapes the RAG chunkers write
    expect(citationLabel({ index: 1, source: 'a/notes.md', location: { lines: [3, 9], heading: 'Intro > Setup' } })).toBe('notes.md, lines 3-9');
    expect(citationLabel({ index: 1, source: 'a.py', location: { lines: [4, 4] } })).toBe('a.py, line 4');
    expect(citationLabel({ index: 1, source: 'n.ipynb', location: { cells: [2, 5] } })).toBe('n.ipynb, cell 3');
    expect(citationTarget({ index: 1, source: 'x', location: { lines: ['a', 2] } })).toMatchObject({ line: null, lastLine: null });
  });
});

describe('citation ranges', () => {
  it('are inclusive: lines 2-5 selects line 5 to its end (issue 20)', () => {
    const t = citationTarget({ index: 1, source: 'a.py', location: { lines: [2, 5] } });
    expect(citationSelection(t, line => [10, 11, 12, 13, 14][line])).toEqual({ start: { line: 1, column: 0 }, end: { line: 4, column: 14 } });
    expect(citationSelection(citationTarget({ index: 1, source: 'a.py', location: { line: 3 } }), () => 5)).toBeNull();
  });
});

describe('inline source markers', () => {
  it('split [n] of an answer with n sources; other brackets stay text (issue 20)', () => {
    expect(splitCiteMarkers('Paris [1] is big [2].', 2)).toEqual(['Paris ', 1, ' is big ', 2, '.']);
    expect(splitCiteMarkers('see [1, 2] and [3]', 2)).toEqual(['see ', 1, 2, ' and [3]']);
    expect(splitCiteMarkers('a[0] x[1]', 0)).toEqual(['a[0] x[1]']);
  });
});
