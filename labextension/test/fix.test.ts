import { diffSummary, lineDiff } from '../src/fix/diff';
import { errorOf, firstCodeBlock, fixContext, fixQuestion, stripAnsi, tracebackText, trimMiddle } from '../src/fix/traceback';

// A real IPython traceback line, colours and all.
const COLOURED = [
  '\u001b[0;31m---------------------------------------------------------------------------\u001b[0m',
  '\u001b[0;31mZeroDivisionError\u001b[0m                         Traceback (most recent call last)',
  'Cell \u001b[0;32mIn[2], line 1\u001b[0m\n\u001b[0;32m----> 1\u001b[0m \u001b[38;5;241;43m1\u001b[39;49m\u001b[38;5;241;43m/\u001b[39;49m\u001b[38;5;241;43m0\u001b[39;49m\n',
  '\u001b[0;31mZeroDivisionError\u001b[0m: division by zero'
];

describe('tracebacks', () => {
  it('strips ANSI colours (CSI with 256-colour arguments, OSC links)', () => {
    expect(stripAnsi('\u001b[0;31mError\u001b[0m')).toBe('Error');
    expect(stripAnsi('\u001b[38;5;241;43m1\u001b[39;49m')).toBe('1');
    expect(stripAnsi('\u001b]8;;file:///x.py\u0007x.py\u001b]8;;\u0007')).toBe('x.py');
    const text = tracebackText({ ename: 'ZeroDivisionError', evalue: 'division by zero', traceback: COLOURED });
    expect(text).not.toContain('\u001b');
    expect(text).toContain('----> 1 1/0');
    expect(text.endsWith('ZeroDivisionError: division by zero')).toBe(true);
  });

  it('finds the error output of a cell', () => {
    expect(errorOf([{ output_type: 'stream', text: 'hi' }])).toBeNull();
    const err = errorOf([{ output_type: 'stream', text: 'hi' }, { output_type: 'error', ename: 'KeyError', evalue: "'a'", traceback: ['tb'] }]);
    expect(err).toEqual({ ename: 'KeyError', evalue: "'a'", traceback: ['tb'] });
    expect(tracebackText({ ename: 'E', evalue: 'v', traceback: [] })).toBe('E: v');
  });

  it('trims the middle of a long traceback, keeping the cause at the end', () => {
    const long = Array.from({ length: 400 }, (_, i) => `frame ${i}`).join('\n') + '\nValueError: the cause';
    const t = trimMiddle(long, 500);
    expect(t.length).toBeLessThan(560);
    expect(t.startsWith('frame 0')).toBe(true);
    expect(t.endsWith('ValueError: the cause')).toBe(true);
    expect(t).toMatch(/lines left out/);
  });

  it('assembles the error context within the budget, neighbours when they fit', () => {
    const input = {
      code: 'y = 1/0',
      error: { ename: 'ZeroDivisionError', evalue: 'division by zero', traceback: COLOURED },
      language: 'python',
      before: ['x = 1'],
      after: ['print(y)'],
      where: 'demo.ipynb, cell 2'
    };
    const ctx = fixContext(input);
    expect(ctx.kind).toBe('error');
    expect(ctx.label).toBe('demo.ipynb, cell 2: ZeroDivisionError');
    expect(ctx.text).toContain('```python\ny = 1/0\n```');
    expect(ctx.text).toContain('x = 1');
    expect(ctx.text).toContain('print(y)');
    const small = fixContext({ ...input, before: ['z = 2\n'.repeat(500)] }, 1200);
    expect(small.text.length).toBeLessThanOrEqual(1250);
    expect(small.text).toContain('y = 1/0');
    expect(small.text).not.toContain('z = 2');
    expect(fixQuestion('python')).toContain('```python');
  });

  it('takes the first code block of an answer', () => {
    expect(firstCodeBlock('Here:\n```python\ny = 1/1\n```\nDone')).toBe('y = 1/1');
    expect(firstCodeBlock('```\na\nb\n```')).toBe('a\nb');
    expect(firstCodeBlock('no code')).toBeNull();
  });
});

describe('lineDiff', () => {
  it('marks removed and added lines, keeping the rest', () => {
    const rows = lineDiff('a = 1\nb = a/0\nprint(b)', 'a = 1\nb = a/1\nprint(b)\n');
    expect(rows).toEqual([
      { kind: 'same', text: 'a = 1' },
      { kind: 'del', text: 'b = a/0' },
      { kind: 'add', text: 'b = a/1' },
      { kind: 'same', text: 'print(b)' }
    ]);
    expect(diffSummary(rows)).toBe('+1 −1');
    expect(diffSummary(lineDiff('x', 'x\n'))).toBe('no change');
  });
});
