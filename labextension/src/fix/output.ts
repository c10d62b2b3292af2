/**
 * Help on any output (issue 20): "Explain Output" and "Ask About Output" on a code cell that has
 * outputs of any kind (a table, a plot's text, a warning, a result), not only a raised error.
 * Explain sends the cell with its outputs to a new chat as context; Ask attaches the same item as
 * a chip and leaves the question to the user.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { inspectorIcon, searchIcon } from '@jupyterlab/ui-components';

import { OutputJSON, WireContext } from '../context/items';
import { EXPLAIN_OUTPUT_QUESTION, outputContext } from './prompts';

export const EXPLAIN_OUTPUT = 'chat-ext:explain-output';
export const ASK_OUTPUT = 'chat-ext:ask-about-output';

function outputsOf(cell: Cell | null | undefined): OutputJSON[] {
  if (!cell || cell.model.type !== 'code') {
    return [];
  }
  return ((cell.model as any).outputs?.toJSON?.() ?? []) as OutputJSON[];
}

export interface OutputEnv {
  /** a new turn with this context (false while one streams) */
  send(question: string, context: WireContext[]): boolean;
  /** attach the item as a chip and focus the composer */
  attach(item: WireContext): void;
}

export function registerOutputCommands(app: JupyterFrontEnd, notebooks: INotebookTracker, env: OutputEnv): void {
  const current = (): WireContext | null => {
    const panel = notebooks.currentWidget;
    const cell = panel?.content.activeCell;
    if (!panel || !cell) {
      return null;
    }
    const meta = panel.content.model?.sharedModel.getMetadata('language_info') as { name?: string } | undefined;
    const where = `${panel.context.path.split('/').pop()}, cell ${panel.content.activeCellIndex + 1}`;
    return outputContext(cell.model.sharedModel.getSource(), outputsOf(cell), meta?.name ?? 'python', where);
  };
  const has = () => current() !== null;
  app.commands.addCommand(EXPLAIN_OUTPUT, {
    label: 'Explain Output',
    caption: 'Ask the chat to explain the output of this cell',
    icon: inspectorIcon,
    isVisible: has,
    isEnabled: has,
    execute: () => {
      const item = current();
      if (!item) {
        Notification.warning('The active cell has no output to explain.', { autoClose: 3000 });
        return;
      }
      if (!env.send(EXPLAIN_OUTPUT_QUESTION, [item])) {
        Notification.warning('Wait for the answer being written (or stop it), then ask again.', { autoClose: 4000 });
      }
    }
  });
  app.commands.addCommand(ASK_OUTPUT, {
    label: 'Ask About Output',
    caption: 'Attach this cell and its output to the chat, then ask your question',
    icon: searchIcon,
    isVisible: has,
    isEnabled: has,
    execute: () => {
      const item = current();
      if (item) {
        env.attach(item);
      }
    }
  });
  const changed = () => {
    app.commands.notifyCommandChanged(EXPLAIN_OUTPUT);
    app.commands.notifyCommandChanged(ASK_OUTPUT);
  };
  notebooks.activeCellChanged.connect(changed);
  notebooks.currentChanged.connect(changed);
  NotebookActions.executed.connect(changed);
  NotebookActions.outputCleared.connect(changed);
}
