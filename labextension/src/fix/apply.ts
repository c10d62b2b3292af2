/**
 * "Apply to cell": a code block of an answer replaces a cell's source after a diff preview, as
 * one undoable step of the cell's shared model (Undo in the notification, or Ctrl+Z in the cell).
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { diffSummary, lineDiff } from './diff';

/** The cell a fix turn was about: its answer's code goes there (else to the active cell). */
export class FixTargets {
  constructor(private readonly notebooks: INotebookTracker | null) {}

  remember(panel: NotebookPanel, cell: Cell): void {
    this._last = { panel, cellId: cell.model.id };
  }

  /** The remembered cell while it still exists, else the active cell of the active notebook. */
  target(): { panel: NotebookPanel; cell: Cell; index: number } | null {
    const last = this._last;
    if (last && !last.panel.isDisposed) {
      const index = last.panel.content.widgets.findIndex(c => c.model.id === last.cellId);
      if (index >= 0) {
        return { panel: last.panel, cell: last.panel.content.widgets[index], index };
      }
    }
    const panel = this.notebooks?.currentWidget ?? null;
    const cell = panel?.content.activeCell ?? null;
    return panel && cell ? { panel, cell, index: panel.content.activeCellIndex } : null;
  }

  private _last: { panel: NotebookPanel; cellId: string } | null = null;
}

/** The preview: old and new lines, marked, built with DOM APIs (the code is untrusted). */
export function diffNode(before: string, after: string): HTMLElement {
  const pre = document.createElement('pre');
  pre.className = 'jp-ChatExt-diff';
  for (const row of lineDiff(before, after)) {
    const line = document.createElement('div');
    line.className = `jp-ChatExt-diffLine jp-ChatExt-diff-${row.kind}`;
    line.textContent = `${row.kind === 'add' ? '+' : row.kind === 'del' ? '-' : ' '} ${row.text}`;
    pre.appendChild(line);
  }
  return pre;
}

/** Show the diff; on "Apply" replace the cell's source. Resolves true when applied. */
export async function applyWithPreview(targets: FixTargets, code: string): Promise<boolean> {
  const target = targets.target();
  if (!target) {
    Notification.warning('Open a notebook and select a cell first: the code replaces a cell.', { autoClose: 4000 });
    return false;
  }
  const { panel, cell, index } = target;
  const shared = cell.model.sharedModel;
  const before = shared.getSource();
  const after = code.replace(/\n$/, '');
  const where = `cell ${index + 1} of ${panel.context.path.split('/').pop()}`;
  const body = new Widget({ node: diffNode(before, after) });
  const result = await showDialog({
    title: `Apply to ${where} (${diffSummary(lineDiff(before, after))})`,
    body,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Apply', ariaLabel: 'Apply the change' })]
  });
  if (!result.button.accept) {
    return false;
  }
  if (shared.getSource() !== before) {
    Notification.warning(`The ${where} changed meanwhile: nothing applied. Try again.`, { autoClose: 5000 });
    return false;
  }
  // one undo step: close the capture group before and after (Yjs merges quick edits otherwise)
  const undo = (shared as any).undoManager as { stopCapturing?: () => void } | null | undefined;
  undo?.stopCapturing?.();
  shared.setSource(after);
  undo?.stopCapturing?.();
  Notification.success(`Applied to ${where}.`, {
    autoClose: 8000,
    actions: [{ label: 'Undo', caption: 'Put the cell back as it was', callback: () => shared.undo() }]
  });
  return true;
}
