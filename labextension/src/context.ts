/** Building the text of a user message that carries notebook context (pure). */

/** A Markdown code fence long enough that no backtick run inside `code` can close it. */
export function fenceFor(code: string): string {
  let longest = 0;
  for (const run of code.match(/`+/g) ?? []) {
    longest = Math.max(longest, run.length);
  }
  return '`'.repeat(Math.max(3, longest + 1));
}

export function codeBlock(code: string, language = ''): string {
  const fence = fenceFor(code);
  const body = code.endsWith('\n') ? code : code + '\n';
  return `${fence}${language}\n${body}${fence}`;
}

export interface CellText {
  type: 'code' | 'markdown' | 'raw';
  source: string;
}

/** A notebook as Markdown: code cells fenced in the kernel's language, markdown cells as is. */
export function notebookAsText(cells: CellText[], language = 'python', maxChars = 24000): string {
  const parts: string[] = [];
  let used = 0;
  for (const [i, c] of cells.entries()) {
    if (!c.source.trim()) {
      continue;
    }
    const piece = c.type === 'code' ? `# Cell ${i + 1}\n${codeBlock(c.source, language)}` : c.source;
    if (used + piece.length > maxChars) {
      parts.push(`… (${cells.length - i} more cells left out)`);
      break;
    }
    parts.push(piece);
    used += piece.length;
  }
  return parts.join('\n\n');
}

export type ContextKind = 'none' | 'cell' | 'notebook';

/** The message actually sent: the question, preceded by the context it is about. */
export function withContext(question: string, context: { kind: ContextKind; label: string; text: string } | null): string {
  if (!context || context.kind === 'none' || !context.text.trim()) {
    return question;
  }
  const what = context.kind === 'cell' ? 'the active cell' : 'the notebook';
  return `Context: ${what} (${context.label}):\n\n${context.text}\n\n${question}`;
}

/** Undo {@link withContext} for display: the context part (shown folded) and the question. */
export function splitContext(content: string): { label: string; context: string; question: string } | null {
  const m = /^Context: (the active cell|the notebook) \(([^\n]*)\):\n\n/.exec(content);
  if (!m) {
    return null;
  }
  const rest = content.slice(m[0].length);
  const cut = rest.lastIndexOf('\n\n');
  if (cut < 0) {
    return null;
  }
  return { label: `${m[1]} (${m[2]})`, context: rest.slice(0, cut), question: rest.slice(cut + 2) };
}

/** The prompt of the "Explain this cell" command. */
export function explainPrompt(code: string, language: string): string {
  return `Explain what this ${language || 'code'} cell does, step by step, and point out any bugs:\n\n${codeBlock(code, language)}`;
}

/** The text "Send selection to chat" puts in the composer. */
export function selectionPrompt(code: string, language: string): string {
  return `${codeBlock(code, language)}\n\n`;
}
