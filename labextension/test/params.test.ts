import { codeBlock, explainPrompt, fenceFor, notebookAsText, splitContext, withContext } from '../src/context';
import { BUILTIN_DEFAULTS, defaultsFromSettings, effectiveParams, paramFormFrom, parseParamForm } from '../src/params';

describe('params', () => {
  it('reads settings, tolerating missing and wrong values', () => {
    expect(defaultsFromSettings(undefined)).toEqual(BUILTIN_DEFAULTS);
    const d = defaultsFromSettings({ temperature: 0, topP: 'x', maxTokens: 64.4, seed: 7, defaultModel: 'm' });
    expect(d).toMatchObject({ temperature: 0, topP: BUILTIN_DEFAULTS.topP, maxTokens: 64, seed: 7, model: 'm' });
    expect(defaultsFromSettings({ seed: 1.5 }).seed).toBeNull();
  });

  it('merges defaults with the session params (session wins, null seed removes it)', () => {
    const d = { ...BUILTIN_DEFAULTS, seed: 3 };
    expect(effectiveParams(d, {})).toEqual({ temperature: 0.7, top_p: 0.9, max_tokens: 512, seed: 3 });
    expect(effectiveParams(d, { temperature: 0, max_tokens: 16 })).toEqual({ temperature: 0, top_p: 0.9, max_tokens: 16, seed: 3 });
    expect(effectiveParams(d, { seed: null as unknown as number })).not.toHaveProperty('seed');
  });

  it('parses the options form with errors per field', () => {
    expect(parseParamForm({ temperature: '0.2', top_p: '', max_tokens: '128', seed: '42' })).toEqual({
      params: { temperature: 0.2, max_tokens: 128, seed: 42 },
      errors: {}
    });
    const bad = parseParamForm({ temperature: '3', top_p: '0', max_tokens: '1.5', seed: '-1' });
    expect(Object.keys(bad.errors).sort()).toEqual(['max_tokens', 'seed', 'temperature', 'top_p']);
    expect(bad.params).toEqual({});
    expect(paramFormFrom({ temperature: 0, seed: 5 })).toEqual({ temperature: '0', top_p: '', max_tokens: '', seed: '5' });
  });
});

describe('context', () => {
  it('picks a fence longer than any backtick run in the code', () => {
    expect(fenceFor('print(1)')).toBe('```');
    expect(fenceFor('s = """```"""')).toBe('````');
    expect(codeBlock('x = 1', 'python')).toBe('```python\nx = 1\n```');
  });

  it('writes a notebook as markdown within a budget', () => {
    const text = notebookAsText(
      [
        { type: 'markdown', source: '# Title' },
        { type: 'code', source: 'import os' },
        { type: 'code', source: '   ' },
        { type: 'code', source: 'x'.repeat(100) }
      ],
      'python',
      60
    );
    expect(text).toContain('# Title');
    expect(text).toContain('# Cell 2\n```python\nimport os\n```');
    expect(text).toContain('1 more cells left out');
  });

  it('prepends the context to the question', () => {
    expect(withContext('why?', null)).toBe('why?');
    expect(withContext('why?', { kind: 'cell', label: 'a.ipynb, cell 2', text: '```python\n1/0\n```' })).toBe(
      'Context: the active cell (a.ipynb, cell 2):\n\n```python\n1/0\n```\n\nwhy?'
    );
    expect(explainPrompt('1/0', 'python')).toContain('```python\n1/0\n```');
  });

  it('splits a sent message back into context and question', () => {
    const ctx = { kind: 'notebook' as const, label: 'a.ipynb', text: '# T\n\n```python\nx = 1\n```' };
    const sent = withContext('What does it do?\nBriefly.', ctx);
    expect(splitContext(sent)).toEqual({ label: 'the notebook (a.ipynb)', context: ctx.text, question: 'What does it do?\nBriefly.' });
    expect(splitContext('plain question')).toBeNull();
  });
});
