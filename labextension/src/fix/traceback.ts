/**
 * The error of a cell's last run, as text a model can read (pure): ANSI colours stripped (IPython
 * colours its tracebacks), long tracebacks cut in the middle (the cause is at the end, the entry
 * point at the start), and the "fix this error" context assembled within a budget.
 */
import { codeBlock } from '../context';

/** CSI (colours, cursor moves) and OSC (titles, links) escape sequences, and lone ESCs. */
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** The error output of a cell's outputs (nbformat JSON), or null when the last run did not raise. */
export function errorOf(outputs: readonly { output_type?: unknown; [k: string]: unknown }[]): CellError | null {
  for (let i = outputs.length - 1; i >= 0; i--) {
    const o = outputs[i];
    if (o.output_type === 'error') {
      return {
        ename: String(o.ename ?? 'Error'),
        evalue: String(o.evalue ?? ''),
        traceback: Array.isArray(o.traceback) ? o.traceback.map(String) : []
      };
    }
  }
  return null;
}

/** Keep the start and the end of `text` within `max` characters, saying what was left out. */
export function trimMiddle(text: string, max: number): string {
  if (text.length <= max) {
    return text;
  }
  const head = Math.floor(max * 0.3);
  const tail = max - head;
  const lines = text.slice(head, text.length - tail).split('\n').length;
  return `${text.slice(0, head)}\n… (${lines} lines left out) …\n${text.slice(text.length - tail)}`;
}

/** The traceback as plain text, trimmed to `max` characters. */
export function tracebackText(err: CellError, max = 3000): string {
  const body = err.traceback.length ? err.traceback.map(stripAnsi).join('\n') : `${err.ename}: ${err.evalue}`;
  return trimMiddle(body.replace(/\n{3,}/g, '\n\n').trim(), max);
}

export interface FixInput {
  code: string;
  error: CellError;
  language: string;
  /** source of the code cells just before and after the cell (nearest first is not needed) */
  before: string[];
  after: string[];
  /** e.g. "demo.ipynb, cell 3" */
  where: string;
}

/** The "error" context item of a fix turn, within `max` characters (neighbours go first). */
export function fixContext(input: FixInput, max = 8000): { kind: 'error'; label: string; text: string } {
  const tb = tracebackText(input.error, Math.min(3000, Math.floor(max / 2)));
  const main = `The cell (${input.where}):\n${codeBlock(input.code, input.language)}\n\nIts error:\n${codeBlock(tb)}`;
  let room = max - main.length;
  const take = (sources: string[], what: string): string => {
    const parts: string[] = [];
    for (const s of sources) {
      const piece = codeBlock(s, input.language);
      if (!s.trim() || piece.length + 40 > room) {
        continue;
      }
      parts.push(piece);
      room -= piece.length;
    }
    return parts.length ? `${what}:\n${parts.join('\n')}\n\n` : '';
  };
  const before = take(input.before, 'Cells run before it');
  const after = take(input.after, 'Cells after it');
  const text = `${before}${main}${after ? `\n\n${after.trimEnd()}` : ''}`;
  return { kind: 'error', label: `${input.where}: ${input.error.ename}`, text: trimMiddle(text, max) };
}

/** The question of a fix turn (the error itself travels as context). */
export function fixQuestion(language: string): string {
  return `Fix the error in this ${language || 'code'} cell. Reply with the corrected cell in one \`\`\`${language} code block, then one sentence on what was wrong.`;
}

/** The first fenced code block of an answer (the fix), or null. */
export function firstCodeBlock(markdown: string): string | null {
  const m = /(^|\n)(`{3,}|~{3,})[^\n`]*\n([\s\S]*?)\n\2[ \t]*(\n|$)/.exec(markdown);
  return m ? m[3] : null;
}
