import { codeOf, EXPLAIN_OUTPUT_QUESTION, generateMessages, outputContext } from '../src/fix/prompts';

describe('help on any output (issue 20)', () => {
  it('any output with text is context, an error or not; no output is none', () => {
    const table = [{ output_type: 'execute_result', data: { 'text/plain': '   a  b\n0  1  2' }, metadata: {}, execution_count: 1 }];
    const item = outputContext('df.head()', table, 'python', 'nb.ipynb, cell 3');
    expect(item).toMatchObject({ kind: 'cell', label: 'nb.ipynb, cell 3 (output)' });
    expect(item!.text).toContain('df.head()');
    expect(item!.text).toContain('0  1  2');
    expect(outputContext('x = 1', [], 'python', 'nb.ipynb, cell 1')).toBeNull();
    expect(EXPLAIN_OUTPUT_QUESTION).toMatch(/output/);
  });
});

describe('code from a prompt in the cell (issue 20)', () => {
  it('asks for code only, with the cells above as context (nearest kept)', () => {
    const msgs = generateMessages('plot revenue by month', ['import pandas as pd', 'df = pd.read_csv("sales.csv")'], 'python');
    expect(msgs.map(m => m.role)).toEqual(['system', 'user']);
    expect(msgs[0].content).toContain('code only');
    expect(msgs[1].content).toContain('df = pd.read_csv("sales.csv")');
    expect(msgs[1].content.endsWith('Write the cell for: plot revenue by month')).toBe(true);
    expect(generateMessages('x', [], 'python')[1].content).toBe('Write the cell for: x');
  });

  it('takes the first fenced block of the answer, else the whole text', () => {
    expect(codeOf('Here:\n```python\nprint(1)\n```\nDone.')).toBe('print(1)');
    expect(codeOf('```\na = 2\n')).toBe('a = 2'); // a stream cut before the closing fence
    expect(codeOf('print(3)\n')).toBe('print(3)');
  });
});
