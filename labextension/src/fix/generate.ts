/**
 * Code from a prompt in the cell (issue 20): a code cell holding a request in words ("load
 * sales.csv and plot revenue by month") is sent, with the code cells above it, to the chosen model
 * (the OpenAI-compatible route, streamed: the notification counts the lines as they come); the
 * code that comes back is shown as a diff against the prompt to accept or reject (fix/apply.ts).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { diffNode } from './apply';
import { diffSummary, lineDiff } from './diff';
import { codeOf, generateMessages } from './prompts';

export const GENERATE_COMMAND = 'chat-ext:generate-in-cell';

/** Read an OpenAI chat-completions SSE stream; `onText` gets the text so far. */
async function streamCompletion(body: unknown, onText: (text: string) => void): Promise<string> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'chat-ext', 'v1', 'chat', 'completions');
  const response = await ServerConnection.makeRequest(url, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }, settings);
  if (!response.ok || !response.body) {
    let message = `HTTP ${response.status}`;
    try {
      message = ((await response.json()) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not JSON: the status says enough
    }
    throw new Error(message);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of block.split('\n')) {
        const data = line.startsWith('data:') ? line.slice(5).trim() : '';
        if (!data || data === '[DONE]') {
          continue;
        }
        const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string } }[]; error?: { message?: string } };
        if (chunk.error) {
          throw new Error(chunk.error.message ?? 'the model failed');
        }
        const piece = chunk.choices?.[0]?.delta?.content ?? '';
        if (piece) {
          text += piece;
          onText(text);
        }
      }
    }
  }
  return text;
}

export function registerGenerateCommand(app: JupyterFrontEnd, notebooks: INotebookTracker, model: () => string | null): void {
  app.commands.addCommand(GENERATE_COMMAND, {
    label: 'Generate Code From This Cell’s Prompt',
    caption: 'Replace the request written in the active code cell with code from the chosen model (after a diff)',
    isEnabled: () => notebooks.activeCell?.model.type === 'code',
    execute: async () => {
      const panel = notebooks.currentWidget;
      const cell = panel?.content.activeCell;
      if (!panel || !cell || cell.model.type !== 'code') {
        return;
      }
      const shared = cell.model.sharedModel;
      const prompt = shared.getSource();
      if (!prompt.trim()) {
        Notification.warning('Write what the cell should do first (in words), then ask again.', { autoClose: 4000 });
        return;
      }
      const index = panel.content.activeCellIndex;
      const cells = panel.content.model?.sharedModel.cells ?? [];
      const above = cells.slice(0, index).filter(c => c.cell_type === 'code' && c.getSource().trim()).map(c => c.getSource());
      const language = (panel.content.model?.sharedModel.getMetadata('language_info') as { name?: string } | undefined)?.name ?? 'python';
      const id = Notification.emit('Generating code…', 'in-progress', { autoClose: false });
      let answer: string;
      try {
        answer = await streamCompletion(
          { model: model() ?? undefined, messages: generateMessages(prompt, above, language), stream: true, temperature: 0.2 },
          text => Notification.update({ id, message: `Generating code… ${text.split('\n').length} lines` })
        );
      } catch (err) {
        Notification.update({ id, message: `Could not generate code: ${(err as Error).message}`, type: 'error', autoClose: 6000 });
        return;
      }
      Notification.dismiss(id);
      const code = codeOf(answer);
      if (!code.trim()) {
        Notification.warning('The model gave no code for this prompt.', { autoClose: 4000 });
        return;
      }
      const rows = lineDiff(prompt, code);
      const result = await showDialog({
        title: `Generated code for cell ${index + 1} (${diffSummary(rows)})`,
        body: new Widget({ node: diffNode(prompt, code) }),
        buttons: [Dialog.cancelButton({ label: 'Reject' }), Dialog.okButton({ label: 'Accept', ariaLabel: 'Accept the generated code' })]
      });
      if (!result.button.accept) {
        return;
      }
      if (shared.getSource() !== prompt) {
        Notification.warning('The cell changed meanwhile: nothing replaced. Try again.', { autoClose: 5000 });
        return;
      }
      const undo = (shared as any).undoManager as { stopCapturing?: () => void } | null | undefined;
      undo?.stopCapturing?.();
      shared.setSource(code);
      undo?.stopCapturing?.();
    }
  });
}
