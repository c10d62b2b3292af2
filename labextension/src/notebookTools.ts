/**
 * The client side of the notebook tools (seams B/C): the server's agent loop asks this page to
 * run `list_cells`, `read_cell`, `insert_cell`, `edit_cell` and `run_cell` on the notebook the
 * sidebar is attached to, and this module answers with text (what the model reads).
 *
 * The tools work on a {@link NotebookDoc}, the part of the notebook's shared model they need, so
 * the logic is testable without a browser; {@link labTarget} binds them to a JupyterLab notebook
 * panel (its shared model, and `NotebookActions.runCells` with the panel's kernel session).
 * Indexes are 0-based, as in the tools' JSON schemas. A bad argument, an index out of range or a
 * failed run is an `is_error` result the model sees, never a thrown error.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';

/** The notebook tools this page can execute (the chat body's `tools.client`). */
export const NOTEBOOK_TOOLS = ['list_cells', 'read_cell', 'insert_cell', 'edit_cell', 'run_cell'] as const;

/** Most characters of cell outputs a result carries (head and tail kept, the middle cut). */
export const MAX_OUTPUT_CHARS = 4000;
/** Most characters of a cell's first line in `list_cells`. */
const PREVIEW_CHARS = 80;

/**
 * The arguments each tool takes, as its JSON schema on the server says (tools/notebook.py, no
 * additional properties). Checked here too: the server refuses a call that breaks its schema
 * without waiting for this page, so this page must refuse the same calls (an allow-listed tool
 * would otherwise run a call the model was told is invalid).
 */
const ARGUMENTS: Record<string, readonly string[]> = {
  list_cells: [],
  read_cell: ['index'],
  insert_cell: ['index', 'source', 'cell_type'],
  edit_cell: ['index', 'source'],
  run_cell: ['index']
};

export interface ToolOutcome {
  content: string;
  is_error: boolean;
}

/** Runs the tools of one turn; bound to one notebook for the whole turn. */
export interface ToolExecutor {
  readonly names: readonly string[];
  run(name: string, args: string): Promise<ToolOutcome>;
}

/** An nbformat output, as far as the text rendering reads it. */
export interface CellOutput {
  output_type: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

/** The shared-model cell API the tools use (`@jupyter/ydoc` ISharedCell has it). */
export interface DocCell {
  readonly cell_type: string;
  getSource(): string;
  setSource(source: string): void;
  execution_count?: number | null;
  getOutputs?(): CellOutput[];
}

/** The shared-model notebook API the tools use (`@jupyter/ydoc` ISharedNotebook has it). */
export interface NotebookDoc {
  readonly cells: readonly DocCell[];
  insertCell(index: number, cell: { cell_type: 'code' | 'markdown'; source: string; metadata: Record<string, unknown> }): unknown;
}

/** A notebook the tools act on: its model and how to run one of its cells. */
export interface NotebookTarget {
  path: string;
  doc: NotebookDoc;
  /** run cell `index` to the end; resolves with its outputs; rejects saying why it cannot run */
  runCell(index: number): Promise<CellOutput[]>;
}

class ToolInputError extends Error {}

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

function joined(text: string | string[] | undefined): string {
  return Array.isArray(text) ? text.join('') : (text ?? '');
}

/** Cut the middle of a long text, saying how much went. */
export function trimMiddle(text: string, max = MAX_OUTPUT_CHARS): string {
  if (text.length <= max) {
    return text;
  }
  const half = Math.floor(max / 2);
  return `${text.slice(0, half)}\n… (${text.length - 2 * half} characters cut) …\n${text.slice(text.length - half)}`;
}

/** Cell outputs as the text a model can read: streams, plain-text results, errors. */
export function outputsAsText(outputs: readonly CellOutput[]): string {
  const parts: string[] = [];
  for (const o of outputs) {
    if (o.output_type === 'stream') {
      parts.push(joined(o.text));
    } else if (o.output_type === 'error') {
      const tb = (o.traceback ?? []).join('\n').replace(ANSI, '');
      parts.push(tb || `${o.ename ?? 'Error'}: ${o.evalue ?? ''}`);
    } else if (o.data) {
      const plain = o.data['text/plain'];
      if (typeof plain === 'string' || Array.isArray(plain)) {
        parts.push(joined(plain as string | string[]));
      } else {
        parts.push(`[${Object.keys(o.data).join(', ')} output]`);
      }
    }
  }
  return trimMiddle(parts.map(p => p.replace(/\n$/, '')).join('\n'));
}

function parseArgs(args: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = args.trim() ? JSON.parse(args) : {};
  } catch {
    throw new ToolInputError(`the arguments are not JSON: ${args.slice(0, 200)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ToolInputError('the arguments must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function str(args: Record<string, unknown>, key: string): string {
  const v = args[key];
  if (typeof v !== 'string') {
    throw new ToolInputError(`"${key}" must be a string`);
  }
  return v;
}

function firstLine(source: string): string {
  const line = source.split('\n', 1)[0];
  return line.length > PREVIEW_CHARS ? `${line.slice(0, PREVIEW_CHARS)}…` : line;
}

export class NotebookTools implements ToolExecutor {
  constructor(readonly target: NotebookTarget) {}

  readonly names = NOTEBOOK_TOOLS;

  async run(name: string, args: string): Promise<ToolOutcome> {
    try {
      const a = parseArgs(args);
      const unknown = Object.keys(a).filter(k => !(ARGUMENTS[name] ?? Object.keys(a)).includes(k));
      if (unknown.length) {
        throw new ToolInputError(`${name} takes no ${unknown.map(k => `"${k}"`).join(', ')} (its arguments: ${ARGUMENTS[name].join(', ') || 'none'})`);
      }
      switch (name) {
        case 'list_cells':
          return ok(this.listCells());
        case 'read_cell':
          return ok(this.readCell(this.index(a)));
        case 'insert_cell':
          return ok(this.insertCell(a));
        case 'edit_cell':
          return ok(this.editCell(this.index(a), str(a, 'source')));
        case 'run_cell':
          return await this.runCell(this.index(a));
        default:
          return fail(`${name} is not a notebook tool (this page runs ${NOTEBOOK_TOOLS.join(', ')})`);
      }
    } catch (err) {
      return fail(err instanceof ToolInputError ? `invalid arguments: ${err.message}` : `${name} failed: ${(err as Error)?.message ?? err}`);
    }
  }

  private get cells(): readonly DocCell[] {
    return this.target.doc.cells;
  }

  /** `index` of an existing cell (`end`: one past the last is allowed too, for inserting). */
  private index(a: Record<string, unknown>, end = false): number {
    const v = a.index;
    const n = this.cells.length;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new ToolInputError('"index" must be an integer');
    }
    const last = end ? n : n - 1;
    if (v < 0 || v > last) {
      throw new ToolInputError(n === 0 && !end ? 'the notebook has no cells' : `"index" ${v} is out of range: use 0 to ${last} (the notebook has ${n} cells)`);
    }
    return v;
  }

  private listCells(): string {
    const lines = [`${this.target.path}: ${this.cells.length} cells (0-based index)`];
    this.cells.forEach((c, i) => {
      const source = c.getSource();
      const count = source ? source.split('\n').length : 0;
      const ran = c.cell_type === 'code' && typeof c.execution_count === 'number' ? `, ran [${c.execution_count}]` : '';
      lines.push(`[${i}] ${c.cell_type}, ${count} line${count === 1 ? '' : 's'}${ran}: ${firstLine(source) || '(empty)'}`);
    });
    return lines.join('\n');
  }

  private readCell(i: number): string {
    const c = this.cells[i];
    const head = `[${i}] ${c.cell_type} cell${typeof c.execution_count === 'number' ? ` (ran [${c.execution_count}])` : ''}:`;
    const outputs = c.cell_type === 'code' ? (c.getOutputs?.() ?? []) : [];
    const text = outputs.length ? `\n--- outputs ---\n${outputsAsText(outputs)}` : '';
    return `${head}\n${c.getSource()}${text}`;
  }

  private insertCell(a: Record<string, unknown>): string {
    const i = this.index(a, true);
    const source = str(a, 'source');
    const type = a.cell_type;
    if (type !== 'code' && type !== 'markdown') {
      throw new ToolInputError('"cell_type" must be "code" or "markdown"');
    }
    this.target.doc.insertCell(i, { cell_type: type, source, metadata: {} });
    return `Inserted a ${type} cell at index ${i}; the notebook has ${this.cells.length} cells now.`;
  }

  private editCell(i: number, source: string): string {
    const c = this.cells[i];
    c.setSource(source);
    return `Cell ${i} (${c.cell_type}) now has ${source.split('\n').length} line(s) of source.`;
  }

  private async runCell(i: number): Promise<ToolOutcome> {
    const c = this.cells[i];
    if (c.cell_type !== 'code') {
      return fail(`cell ${i} is a ${c.cell_type} cell: only code cells run`);
    }
    const outputs = await this.target.runCell(i);
    const text = outputsAsText(outputs);
    const count = typeof this.cells[i]?.execution_count === 'number' ? ` [${this.cells[i].execution_count}]` : '';
    const failed = outputs.some(o => o.output_type === 'error');
    return { content: `Ran cell ${i}${count}${failed ? ': it raised an error' : ''}.\n${text || '(no output)'}`, is_error: failed };
  }
}

function ok(content: string): ToolOutcome {
  return { content, is_error: false };
}
function fail(content: string): ToolOutcome {
  return { content, is_error: true };
}

/**
 * Bind the tools to a notebook panel of the lab. `runCells` is the same path the Run command
 * takes (the notebook's cell executor, its kernel session), without moving the user's selection.
 * `actions` is `NotebookActions` (passed in so this module imports no lab code at run time).
 */
export function labTarget(
  panel: NotebookPanel,
  actions: { runCells(notebook: NotebookPanel['content'], cells: readonly any[], session?: NotebookPanel['sessionContext']): Promise<boolean> }
): NotebookTarget {
  return {
    get path() {
      return panel.context.path;
    },
    get doc() {
      const model = panel.content.model;
      if (!model) {
        throw new Error('the notebook is not loaded');
      }
      return model.sharedModel as unknown as NotebookDoc;
    },
    async runCell(index: number): Promise<CellOutput[]> {
      const session = panel.sessionContext;
      await session.ready;
      if (!session.session?.kernel || session.isTerminating) {
        throw new Error('the notebook has no running kernel: start one (Kernel menu) and ask again');
      }
      const cell = panel.content.widgets[index];
      if (!cell) {
        throw new Error(`cell ${index} is gone`);
      }
      await actions.runCells(panel.content, [cell], session);
      const model = cell.model as unknown as { outputs?: { toJSON(): CellOutput[] } };
      return model.outputs?.toJSON() ?? [];
    }
  };
}
