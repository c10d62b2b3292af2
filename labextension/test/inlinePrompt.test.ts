import { assembleEditorPrompt, assemblePrompt, CellSource, cellAsCode, clipLines, fitToLine, keepHead, keepTail } from '../src/inline/prompt';

const code = (source: string): CellSource => ({ type: 'code', source });

describe('assemblePrompt', () => {
  const cells = [code('import pandas as pd'), { type: 'markdown', source: 'Load the data' } as CellSource, code('df = pd.read_csv("x.csv")\ndf.'), code('print(df)')];

  it('puts the cells above before the cursor and the cells below after it', () => {
    const text = 'df = pd.read_csv("x.csv")\ndf.';
    const { prefix, suffix } = assemblePrompt(cells, 2, text, text.length);
    expect(prefix).toBe('import pandas as pd\n\n# Load the data\n\ndf = pd.read_csv("x.csv")\ndf.');
    expect(suffix).toBe('\n\nprint(df)');
  });

  it('splits the live editor text at the cursor', () => {
    const { prefix, suffix } = assemblePrompt([code('a = 1'), code('b = 2\nc = 3')], 1, 'b = 2\nc = 3', 3);
    expect(prefix).toBe('a = 1\n\nb =');
    expect(suffix).toBe(' 2\nc = 3');
  });

  it('drops far cells first to stay within the budget', () => {
    const big = code('x = 0\n'.repeat(200));
    const { prefix, suffix } = assemblePrompt([big, code('near = 1'), code('y = ')], 2, 'y = ', 4, 'python', { prefixChars: 50, suffixChars: 10 });
    expect(prefix).toBe('near = 1\n\ny = ');
    expect(suffix).toBe('');
  });

  it('cuts the current cell itself from the far end when it alone is over the budget', () => {
    const text = Array.from({ length: 100 }, (_, i) => `line${i} = ${i}`).join('\n') + '\nlast = ';
    const { prefix } = assemblePrompt([code('far = 1'), code(text)], 1, text, text.length, 'python', { prefixChars: 100, suffixChars: 100 });
    expect(prefix.length).toBeLessThanOrEqual(100);
    expect(prefix.endsWith('last = ')).toBe(true);
    expect(prefix).not.toContain('far = 1');
    expect(prefix.startsWith('line')).toBe(true); // cut at a line start
  });

  it('skips empty cells and comments markdown in the language', () => {
    expect(cellAsCode({ type: 'markdown', source: '# Title\n\ntext' }, 'python')).toBe('# # Title\n#\n# text');
    expect(cellAsCode({ type: 'markdown', source: 'note' }, 'javascript')).toBe('// note');
    expect(cellAsCode({ type: 'raw', source: 'raw' }, 'python')).toBe('');
    const { prefix } = assemblePrompt([code('   '), code('a = 1')], 1, 'a', 1);
    expect(prefix).toBe('a');
  });
});

describe('editor prompt and clipping', () => {
  it('cuts a file around the cursor', () => {
    const text = 'a\n'.repeat(50) + 'CURSOR' + '\nb'.repeat(50);
    const at = text.indexOf('CURSOR');
    const { prefix, suffix } = assembleEditorPrompt(text, at, { prefixChars: 10, suffixChars: 10 });
    expect(prefix.length).toBeLessThanOrEqual(10);
    expect(suffix.startsWith('CURSOR')).toBe(true);
    expect(keepTail('abc', 10)).toBe('abc');
    expect(keepHead('abcdef', 3)).toBe('abc');
  });

  it('keeps the first max lines of a completion', () => {
    expect(clipLines('a\nb\nc', 2)).toBe('a\nb');
    expect(clipLines('a\nb', 2)).toBe('a\nb');
    expect(clipLines('a\nb\nc', 0)).toBe('a\nb\nc');
  });

  it('completes only the rest of the line mid-line, without the closing text again', () => {
    expect(fitToLine('10, 20)\nprint(total)', ')\nmore')).toBe('10, 20');
    expect(fitToLine('10, 20\nprint(x)', ')')).toBe('10, 20');
    expect(fitToLine('x = 1\ny = 2', '')).toBe('x = 1\ny = 2');
    expect(fitToLine('a\nb', '\nnext line')).toBe('a\nb');
  });
});
