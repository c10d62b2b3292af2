import { execFileSync } from 'child_process';
import { existsSync } from 'fs';
import { resolve } from 'path';

import { cellText, contextOf, describeVar, outputsText, toWire, ContextItem } from '../src/context/items';
import { decodeResult, evaluate, KernelLike, LIST_VARS_EXPRESSION, varExpression } from '../src/context/kernelVars';
import { matchingKinds, parseRef, replaceToken, splitPath, tokenAt, typedRefs } from '../src/context/tokens';

describe('@-tokens', () => {
  it('finds the token at the cursor', () => {
    expect(tokenAt('look at @', 9)).toEqual({ start: 8, end: 9, kind: null, arg: '' });
    expect(tokenAt('@fi', 3)).toEqual({ start: 0, end: 3, kind: null, arg: 'fi' });
    expect(tokenAt('see @file:data/x.cs', 19)).toEqual({ start: 4, end: 19, kind: 'file', arg: 'data/x.cs' });
    expect(tokenAt('@var:df', 7)).toEqual({ start: 0, end: 7, kind: 'var', arg: 'df' });
    expect(tokenAt('@cell', 5)).toEqual({ start: 0, end: 5, kind: 'cell', arg: '' });
    expect(tokenAt('@cell:12', 8)).toEqual({ start: 0, end: 8, kind: 'cell', arg: '12' });
  });

  it('ignores e-mail addresses, unknown kinds and tokens behind the cursor', () => {
    expect(tokenAt('mail me@host', 12)).toBeNull();
    expect(tokenAt('@nope:x', 7)).toBeNull();
    expect(tokenAt('@var:df and more', 16)).toBeNull();
  });

  it('filters kinds and parses complete references', () => {
    expect(matchingKinds('').map(k => k.kind)).toEqual(['file', 'cell', 'var']);
    expect(matchingKinds('V').map(k => k.kind)).toEqual(['var']);
    expect(parseRef('@cell:3')).toEqual({ kind: 'cell', arg: '3' });
    expect(parseRef('@cell')).toEqual({ kind: 'cell', arg: '' });
    expect(parseRef('@cell:0')).toBeNull();
    expect(parseRef('@var:df')).toEqual({ kind: 'var', arg: 'df' });
    expect(parseRef('@var:__import__("os")')).toBeNull();
    expect(parseRef('@file:')).toBeNull();
  });

  it('replaces a token and splits paths', () => {
    const t = tokenAt('explain @var:df please', 15)!;
    expect(replaceToken('explain @var:df please', t, '')).toEqual({ text: 'explain please', cursor: 8 });
    expect(splitPath('a/b/c.p')).toEqual({ dir: 'a/b', name: 'c.p' });
    expect(splitPath('c')).toEqual({ dir: '', name: 'c' });
  });
});

describe('context items', () => {
  it('sends only ready items and reads stored ones back', () => {
    const items: ContextItem[] = [
      { id: 1, kind: 'var', label: 'df', text: 't', state: 'ready' },
      { id: 2, kind: 'var', label: 'x', text: '', state: 'error', note: 'kernel busy' }
    ];
    expect(toWire(items)).toEqual([{ kind: 'var', label: 'df', text: 't' }]);
    expect(contextOf({ context: [{ kind: 'file', label: 'a', text: 'b' }, { bad: 1 }] })).toEqual([{ kind: 'file', label: 'a', text: 'b' }]);
    expect(contextOf({})).toEqual([]);
  });

  it('names images and trims text outputs', () => {
    const outputs = [
      { output_type: 'stream', name: 'stdout', text: ['a\n', 'b\n'] },
      { output_type: 'display_data', data: { 'image/png': 'AAAA', 'text/plain': '<Figure>' } },
      { output_type: 'execute_result', data: { 'text/plain': 'x'.repeat(5000) } }
    ];
    const text = outputsText(outputs, 100);
    expect(text).toContain('a\nb');
    expect(text).toContain('[image/png output, not sent]');
    expect(text).not.toContain('AAAA');
    expect(text).toMatch(/output trimmed/);
    expect(cellText('print(1)', [{ output_type: 'stream', text: '1\n' }], 'python')).toBe('```python\nprint(1)\n```\n\nOutput:\n```\n1\n```');
  });

  it('describes a variable', () => {
    const d = describeVar('df', { type: 'pandas.DataFrame', shape: [3, 2], dtypes: { a: 'int64', b: 'object' }, preview: '   a  b' });
    expect(d.label).toBe('df: DataFrame (3, 2)');
    expect(d.text).toContain('shape (3, 2)');
    expect(d.text).toContain('a: int64, b: object');
    expect(describeVar('s', { type: 'str', len: 5 }).label).toBe('s: str len 5');
  });
});

describe('kernel variables', () => {
  it('refuses names that are not identifiers', () => {
    expect(() => varExpression('os.system("x")')).toThrow();
  });

  it('decodes the repr of a base64 result', () => {
    const b64 = Buffer.from(JSON.stringify({ type: 'int', preview: 'é' })).toString('base64');
    expect(decodeResult(`'${b64}'`)).toEqual({ type: 'int', preview: 'é' });
    expect(() => decodeResult('<object>')).toThrow();
  });

  it('refuses a busy, dead or missing kernel at once and times out a silent one', async () => {
    const never: KernelLike = {
      status: 'idle',
      requestExecute: () => ({ done: new Promise(() => undefined), dispose: () => undefined })
    };
    await expect(evaluate(null, '1')).rejects.toMatchObject({ reason: 'no_kernel' });
    await expect(evaluate({ ...never, status: 'busy' }, '1')).rejects.toMatchObject({ reason: 'busy' });
    await expect(evaluate({ ...never, status: 'dead' }, '1')).rejects.toMatchObject({ reason: 'dead' });
    await expect(evaluate(never, '1', 50)).rejects.toMatchObject({ reason: 'timeout' });
  });

  // The expressions run in a real Python with pandas (the project's venv) when there is one.
  const python = resolve(__dirname, '../../.venv/bin/python');
  const run = existsSync(python) ? it : it.skip;
  run('reads a DataFrame, a user object and the variable list without running user code', () => {
    const script = [
      'import json, sys, pandas as pd',
      'ns = {"df": pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}), "n": 5, "json": json}',
      'class Evil:',
      '    def __repr__(self): raise SystemExit("user code ran")',
      '    @property',
      '    def shape(self): raise SystemExit("user code ran")',
      'ns["evil"] = Evil()',
      'ns["Evil"] = Evil',
      'out = {k: eval(e, ns) for k, e in json.loads(sys.stdin.read()).items()}',
      'print(json.dumps({k: repr(v) for k, v in out.items()}))'
    ].join('\n');
    const exprs = { df: varExpression('df'), evil: varExpression('evil'), none: varExpression('nope'), list: LIST_VARS_EXPRESSION };
    const out = JSON.parse(execFileSync(python, ['-c', script], { input: JSON.stringify(exprs) }).toString());
    const df = decodeResult(out.df) as any;
    expect(df.type).toMatch(/^pandas(\.core\.frame)?\.DataFrame$/); // pandas 3 names its public module
    expect(df.shape).toEqual([3, 2]);
    expect(df.dtypes.a).toBe('int64');
    expect(['object', 'str', 'string']).toContain(df.dtypes.b); // pandas 3: a string dtype
    expect(df.preview).toContain('x');
    const evil = decodeResult(out.evil) as any;
    expect(evil.preview).toMatch(/^<__main__\.Evil object at/);
    expect(decodeResult(out.none)).toEqual({ missing: true });
    expect(decodeResult(out.list)).toEqual([
      ['df', 'DataFrame'],
      ['n', 'int'],
      ['evil', 'Evil']
    ]);
  });
});

describe('references typed by hand', () => {
  it('become references and leave the text', () => {
    expect(typedRefs('@cell How many rows are there?')).toEqual({
      refs: [{ kind: 'cell', arg: '', raw: '@cell' }],
      text: 'How many rows are there?'
    });
    const r = typedRefs('Compare @cell:2 with @file:docs/gui.md, and @var:df.');
    expect(r.refs.map(x => x.raw)).toEqual(['@cell:2', '@file:docs/gui.md', '@var:df']);
    expect(r.text).toBe('Compare with, and.');
  });

  it('leaves code, e-mail addresses, unknown kinds and malformed references alone', () => {
    expect(typedRefs('```python\n@cell\n```\nWhat does it do?').refs).toEqual([]);
    expect(typedRefs('mail me@cell.org or @dataclass').refs).toEqual([]);
    expect(typedRefs('@cell:abc and @var:1x').refs).toEqual([]);
  });

  it('keeps the text when nothing but references was typed; one chip per reference', () => {
    const r = typedRefs('@cell @cell');
    expect(r.refs).toHaveLength(1);
    expect(r.text).toBe('@cell @cell');
  });
});
