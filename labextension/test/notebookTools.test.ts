import { CellOutput, DocCell, MAX_OUTPUT_CHARS, NotebookDoc, NotebookTools, outputsAsText } from '../src/notebookTools';

/** A notebook model with the shared-model API the tools use (the lab's is exercised in tests/browser). */
class Cell implements DocCell {
  constructor(
    readonly cell_type: string,
    private source: string,
    public execution_count: number | null = null,
    public outputs: CellOutput[] = []
  ) {}
  getSource(): string {
    return this.source;
  }
  setSource(source: string): void {
    this.source = source;
  }
  getOutputs(): CellOutput[] {
    return this.outputs;
  }
}

class Doc implements NotebookDoc {
  cells: Cell[] = [new Cell('markdown', '# Title\nintro'), new Cell('code', 'x = 1', 1), new Cell('code', 'print(x)')];
  insertCell(index: number, cell: { cell_type: string; source: string }): void {
    this.cells.splice(index, 0, new Cell(cell.cell_type, cell.source));
  }
}

function tools(runs: ((i: number, doc: Doc) => CellOutput[] | Promise<CellOutput[]>) | null = null): [NotebookTools, Doc, number[]] {
  const doc = new Doc();
  const ran: number[] = [];
  const t = new NotebookTools({
    path: 'demo.ipynb',
    doc,
    runCell: async i => {
      ran.push(i);
      if (!runs) {
        throw new Error('the notebook has no running kernel');
      }
      return runs(i, doc);
    }
  });
  return [t, doc, ran];
}

describe('notebook tools', () => {
  it('list_cells: one line per cell, 0-based, with type, size and run count', async () => {
    const [t] = tools();
    const r = await t.run('list_cells', '{}');
    expect(r.is_error).toBe(false);
    expect(r.content.split('\n')).toEqual([
      'demo.ipynb: 3 cells (0-based index)',
      '[0] markdown, 2 lines: # Title',
      '[1] code, 1 line, ran [1]: x = 1',
      '[2] code, 1 line: print(x)'
    ]);
    expect((await t.run('list_cells', '')).is_error).toBe(false); // no arguments at all is {}
  });

  it('read_cell gives the source and the outputs as text', async () => {
    const [t, doc] = tools();
    doc.cells[1].outputs = [
      { output_type: 'stream', text: ['a\n', 'b\n'] },
      { output_type: 'execute_result', data: { 'text/plain': '42', 'text/html': '<b>42</b>' } },
      { output_type: 'display_data', data: { 'image/png': 'iVBOR' } }
    ];
    const r = await t.run('read_cell', '{"index": 1}');
    expect(r).toEqual({ content: '[1] code cell (ran [1]):\nx = 1\n--- outputs ---\na\nb\n42\n[image/png output]', is_error: false });
  });

  it('insert_cell and edit_cell change the notebook', async () => {
    const [t, doc] = tools();
    const ins = await t.run('insert_cell', JSON.stringify({ index: 3, source: 'y = 2', cell_type: 'code' }));
    expect(ins).toEqual({ content: 'Inserted a code cell at index 3; the notebook has 4 cells now.', is_error: false });
    await t.run('insert_cell', JSON.stringify({ index: 0, source: 'note', cell_type: 'markdown' }));
    expect(doc.cells.map(c => [c.cell_type, c.getSource()])).toEqual([
      ['markdown', 'note'],
      ['markdown', '# Title\nintro'],
      ['code', 'x = 1'],
      ['code', 'print(x)'],
      ['code', 'y = 2']
    ]);
    const ed = await t.run('edit_cell', JSON.stringify({ index: 2, source: 'x = 10\nx' }));
    expect(ed.is_error).toBe(false);
    expect(doc.cells[2].getSource()).toBe('x = 10\nx');
  });

  it('bad arguments are is_error results that say what to fix, and change nothing', async () => {
    const [t, doc] = tools();
    const cases: [string, string, string][] = [
      ['read_cell', '{"index": 3}', '"index" 3 is out of range: use 0 to 2 (the notebook has 3 cells)'],
      ['read_cell', '{"index": -1}', 'out of range'],
      ['read_cell', '{"index": 1.5}', '"index" must be an integer'],
      ['read_cell', '{}', '"index" must be an integer'],
      ['edit_cell', '{"index": 0}', '"source" must be a string'],
      ['edit_cell', '{"index": 0, "source": 5}', '"source" must be a string'],
      ['insert_cell', '{"index": 4, "source": "z", "cell_type": "code"}', 'use 0 to 3'],
      ['insert_cell', '{"index": 0, "source": "z", "cell_type": "raw"}', '"cell_type" must be "code" or "markdown"'],
      ['insert_cell', '{"index": 0, "source": "z"}', '"cell_type" must be "code" or "markdown"'],
      ['edit_cell', '{"index": 0, "source": "z", "extra": 1}', 'edit_cell takes no "extra" (its arguments: index, source)'],
      ['list_cells', '{"all": true}', 'list_cells takes no "all" (its arguments: none)'],
      ['edit_cell', '{not json', 'the arguments are not JSON'],
      ['edit_cell', '[1]', 'must be a JSON object'],
      ['delete_cell', '{}', 'delete_cell is not a notebook tool']
    ];
    for (const [name, args, says] of cases) {
      const r = await t.run(name, args);
      expect(r.is_error).toBe(true);
      expect(r.content).toContain(says);
    }
    expect(doc.cells.map(c => c.getSource())).toEqual(['# Title\nintro', 'x = 1', 'print(x)']);
  });

  it('run_cell runs the cell and returns its outputs; an exception is an is_error result', async () => {
    const [t, doc, ran] = tools((i, d) => {
      d.cells[i].execution_count = 7;
      return i === 2 ? [{ output_type: 'stream', text: '1\n' }] : [{ output_type: 'error', ename: 'NameError', evalue: "name 'y' is not defined", traceback: ['\u001b[0;31mNameError\u001b[0m: name y'] }];
    });
    expect(await t.run('run_cell', '{"index": 2}')).toEqual({ content: 'Ran cell 2 [7].\n1', is_error: false });
    const failed = await t.run('run_cell', '{"index": 1}');
    expect(failed).toEqual({ content: 'Ran cell 1 [7]: it raised an error.\nNameError: name y', is_error: true });
    expect(ran).toEqual([2, 1]);
    const md = await t.run('run_cell', '{"index": 0}');
    expect(md).toEqual({ content: 'cell 0 is a markdown cell: only code cells run', is_error: true });
    expect(ran).toEqual([2, 1]);
    expect(doc.cells[0].execution_count).toBeNull();
  });

  it('run_cell without a kernel says so', async () => {
    const [t] = tools(null);
    expect(await t.run('run_cell', '{"index": 1}')).toEqual({ content: 'run_cell failed: the notebook has no running kernel', is_error: true });
  });

  it('long outputs keep their head and tail', () => {
    const text = outputsAsText([{ output_type: 'stream', text: 'a'.repeat(3000) + 'b'.repeat(3000) }]);
    expect(text.length).toBeLessThan(MAX_OUTPUT_CHARS + 60);
    expect(text.startsWith('aaa')).toBe(true);
    expect(text.endsWith('bbb')).toBe(true);
    expect(text).toContain('(2000 characters cut)');
  });
});
