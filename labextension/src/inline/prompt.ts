/**
 * The text around the cursor that an inline completion is asked for (pure).
 *
 * A notebook is one program split into cells: the cells above the cursor's cell are the prefix's
 * start, the cells below are the suffix's end. Both are cut to a character budget from the far
 * end (whole cells first), so the text next to the cursor always survives; the server trims again
 * to the model's token budget and never fails for length.
 */

export interface CellSource {
  type: 'code' | 'markdown' | 'raw';
  source: string;
}

export interface PromptBudget {
  /** most characters of prefix sent (the text before the cursor included) */
  prefixChars: number;
  /** most characters of suffix sent */
  suffixChars: number;
}

export const DEFAULT_BUDGET: PromptBudget = { prefixChars: 4000, suffixChars: 1000 };

/** Cells are separated by a blank line, as a notebook exported to a script would be. */
const SEP = '\n\n';

/** Markdown as comments of the kernel's language (the model sees prose where code expects it). */
export function cellAsCode(cell: CellSource, language: string): string {
  if (cell.type === 'code') {
    return cell.source;
  }
  if (cell.type !== 'markdown' || !cell.source.trim()) {
    return '';
  }
  const mark = /^(python|r|julia|ruby|perl|shell|bash|sh)$/i.test(language) ? '#' : '//';
  return cell.source
    .split('\n')
    .map(line => (line ? `${mark} ${line}` : mark))
    .join('\n');
}

/** Keep the last `max` characters of `text`, cutting at a line start when one is near. */
export function keepTail(text: string, max: number): string {
  if (text.length <= max) {
    return text;
  }
  const cut = text.slice(text.length - Math.max(0, max));
  const nl = cut.indexOf('\n');
  return nl >= 0 && nl < cut.length / 2 ? cut.slice(nl + 1) : cut;
}

/** Keep the first `max` characters of `text`, cutting at a line end when one is near. */
export function keepHead(text: string, max: number): string {
  if (text.length <= max) {
    return text;
  }
  const cut = text.slice(0, Math.max(0, max));
  const nl = cut.lastIndexOf('\n');
  return nl >= cut.length / 2 ? cut.slice(0, nl + 1) : cut;
}

/**
 * Prefix and suffix for the cell at `index` with the cursor at `offset` of `text` (the editor's
 * live text, which may be newer than the model's source).
 */
export function assemblePrompt(
  cells: CellSource[],
  index: number,
  text: string,
  offset: number,
  language = 'python',
  budget: PromptBudget = DEFAULT_BUDGET
): { prefix: string; suffix: string } {
  const before = text.slice(0, offset);
  const after = text.slice(offset);
  const above = cells
    .slice(0, Math.max(0, index))
    .map(c => cellAsCode(c, language))
    .filter(s => s.trim());
  const below = cells
    .slice(index + 1)
    .map(c => cellAsCode(c, language))
    .filter(s => s.trim());
  let prefix = keepTail(before, budget.prefixChars);
  // whole cells, nearest first, while they fit
  for (let i = above.length - 1; i >= 0 && before.length <= budget.prefixChars; i--) {
    const piece = above[i] + SEP;
    if (prefix.length + piece.length > budget.prefixChars) {
      break;
    }
    prefix = piece + prefix;
  }
  let suffix = keepHead(after, budget.suffixChars);
  for (let i = 0; i < below.length && after.length <= budget.suffixChars; i++) {
    const piece = SEP + below[i];
    if (suffix.length + piece.length > budget.suffixChars) {
      break;
    }
    suffix = suffix + piece;
  }
  return { prefix, suffix };
}

/** The prompt of a plain editor (a file): the text itself, cut to the budget. */
export function assembleEditorPrompt(text: string, offset: number, budget: PromptBudget = DEFAULT_BUDGET): { prefix: string; suffix: string } {
  return { prefix: keepTail(text.slice(0, offset), budget.prefixChars), suffix: keepHead(text.slice(offset), budget.suffixChars) };
}

/** The first `maxLines` lines of a completion (the server stops there too; streamed text may run on). */
export function clipLines(text: string, maxLines: number): string {
  if (maxLines <= 0) {
    return text;
  }
  const lines = text.split('\n');
  return lines.length <= maxLines ? text : lines.slice(0, maxLines).join('\n');
}

/**
 * Fit a completion to text left on the cursor's line (often a bracket the editor closed itself):
 * mid-line, only the rest of that line is completed, and the closing text the model wrote again
 * is dropped (`add(` + `)`: "10, 20)" becomes "10, 20").
 */
export function fitToLine(completion: string, suffix: string): string {
  const rest = suffix.split('\n')[0].trim();
  if (!rest) {
    return completion;
  }
  const first = completion.split('\n')[0].trimEnd();
  return first.endsWith(rest) ? first.slice(0, first.length - rest.length) : first;
}
