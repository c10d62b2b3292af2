/**
 * The pure parts of "Explain Output" and "Generate code from the cell's prompt" (issue 20): what
 * goes to the model, and what comes back into the cell. No JupyterLab imports: jest tests them.
 */
import { cellText, OutputJSON, outputsText, WireContext } from '../context/items';

export const EXPLAIN_OUTPUT_QUESTION = 'Explain the output of this cell: what it shows and what stands out.';

/** The cell's code and outputs as one context item (null when it has no output with text). */
export function outputContext(source: string, outputs: OutputJSON[], language: string, where: string): WireContext | null {
  if (!outputsText(outputs).trim()) {
    return null;
  }
  return { kind: 'cell', label: `${where} (output)`, text: cellText(source, outputs, language) };
}

/** The cells above that go along, at most (nearest last), and their size in characters. */
const CONTEXT_CELLS = 3;
const CONTEXT_CHARS = 4000;

/** The chat messages for a prompt typed in a cell (pure: the jest test's seam). */
export function generateMessages(prompt: string, above: string[], language: string): { role: string; content: string }[] {
  let context = '';
  for (const code of above.slice(-CONTEXT_CELLS).reverse()) {
    if (context.length + code.length > CONTEXT_CHARS) {
      break;
    }
    context = `${code}\n\n${context}`;
  }
  const system =
    `You write ${language} code for one Jupyter notebook cell. Answer with the code only, in one ` +
    'fenced code block, with short comments where they help; no explanation before or after.';
  const user = (context.trim() ? `The cells above:\n\`\`\`${language}\n${context.trim()}\n\`\`\`\n\n` : '') + `Write the cell for: ${prompt.trim()}`;
  return [
    { role: 'system', content: system },
    { role: 'user', content: user }
  ];
}

/** The code of a model's answer: its first fenced block, else the whole text (pure). */
export function codeOf(answer: string): string {
  const m = /```[\w+#.-]*[^\S\n]*\n([\s\S]*?)(?:```|$)/.exec(answer);
  return (m ? m[1] : answer).replace(/\s+$/, '');
}

