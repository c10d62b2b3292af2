/**
 * "Fix this error": on a code cell whose last run raised, send its code, the traceback and the
 * cells around it to the chat as a new turn (context kind "error"). A cell toolbar button and
 * a context-menu entry (schema/plugin.json) run the command; it is visible only on such cells.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { codeCheckIcon } from '@jupyterlab/ui-components';

import { FixTargets } from './apply';
import { CellError, errorOf, fixContext, fixQuestion } from './traceback';
import { WireContext } from '../context/items';

export const FIX_COMMAND = 'chat-ext:fix-error';

/** How many code cells on each side go along (nearest first), within the context budget. */
const NEIGHBOURS = 2;

export function cellError(cell: Cell | null | undefined): CellError | null {
  if (!cell || cell.model.type !== 'code') {
    return null;
  }
  const outputs = (cell.model as any).outputs?.toJSON?.() ?? [];
  return errorOf(outputs);
}

function neighbours(panel: NotebookPanel, index: number): { before: string[]; after: string[] } {
  const cells = panel.content.model?.sharedModel.cells ?? [];
  const code = (i: number) => (cells[i]?.cell_type === 'code' ? cells[i].getSource() : '');
  const before: string[] = [];
  const after: string[] = [];
  for (let i = index - 1; i >= 0 && before.length < NEIGHBOURS; i--) {
    if (code(i).trim()) {
      before.unshift(code(i));
    }
  }
  for (let i = index + 1; i < cells.length && after.length < NEIGHBOURS; i++) {
    if (code(i).trim()) {
      after.push(code(i));
    }
  }
  return { before, after };
}

export interface FixEnv {
  /** open the sidebar and send a turn with context; false when a turn is streaming */
  send(question: string, context: WireContext[]): boolean;
}

export function registerFixCommand(app: JupyterFrontEnd, notebooks: INotebookTracker, targets: FixTargets, env: FixEnv): void {
  const active = () => notebooks.currentWidget?.content.activeCell ?? null;
  app.commands.addCommand(FIX_COMMAND, {
    label: 'Fix This Error',
    caption: 'Ask the chat to fix the error of this cell’s last run',
    // not the bug: that one is the Debugger's (issue 20)
    icon: codeCheckIcon,
    isVisible: () => !!cellError(active()),
    isEnabled: () => !!cellError(active()),
    execute: () => {
      const panel = notebooks.currentWidget;
      const cell = active();
      const error = cellError(cell);
      if (!panel || !cell || !error) {
        Notification.warning('The active cell did not raise an error in its last run.', { autoClose: 3000 });
        return;
      }
      const index = panel.content.activeCellIndex;
      const meta = panel.content.model?.sharedModel.getMetadata('language_info') as { name?: string } | undefined;
      const language = meta?.name ?? 'python';
      const { before, after } = neighbours(panel, index);
      const where = `${panel.context.path.split('/').pop()}, cell ${index + 1}`;
      const context = fixContext({ code: cell.model.sharedModel.getSource(), error, language, before, after, where });
      targets.remember(panel, cell);
      if (!env.send(fixQuestion(language), [context])) {
        Notification.warning('Wait for the answer being written (or stop it), then ask again.', { autoClose: 4000 });
      }
    }
  });
  // the button shows on the active cell only when it has an error: re-check when that can change
  const changed = () => app.commands.notifyCommandChanged(FIX_COMMAND);
  notebooks.activeCellChanged.connect(changed);
  notebooks.currentChanged.connect(changed);
  NotebookActions.executed.connect(changed);
  NotebookActions.outputCleared.connect(changed);
}
