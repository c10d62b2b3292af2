/**
 * Ghost text on a new blank line. JupyterLab starts inline completion by itself only at the end
 * of a line that has text (its handler returns early when only white space is left of the
 * cursor), so after Enter no ghost text ever came (issue 20). On a code cell's new blank line
 * that follows a line of code, this asks for it once the provider's debounce has passed, with
 * the same command as Alt+\ (`inline-completer:invoke`).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';

import { InlineSettings } from './settings';

export const INVOKE_INLINE = 'inline-completer:invoke';

/** Whether the cursor sits on a blank line right after a line of code (pure: the test's seam). */
export function wantsBlankLineGhost(lines: (line: number) => string | undefined, cursorLine: number): boolean {
  if (cursorLine < 1) {
    return false;
  }
  const here = lines(cursorLine);
  const above = lines(cursorLine - 1);
  return here !== undefined && here.trim() === '' && above !== undefined && above.trim() !== '';
}

export function triggerOnBlankLines(app: JupyterFrontEnd, notebooks: INotebookTracker, settings: () => InlineSettings): void {
  let timer = 0;
  let watched: Cell | null = null;
  const onChange = () => {
    window.clearTimeout(timer);
    const cell = watched;
    const editor = cell?.editor;
    const s = settings();
    if (!cell || !editor || cell.model.type !== 'code' || !s.enabled || !app.commands.hasCommand(INVOKE_INLINE)) {
      return;
    }
    const at = editor.getCursorPosition();
    if (!wantsBlankLineGhost(line => editor.getLine(line), at.line)) {
      return;
    }
    timer = window.setTimeout(() => {
      const now = watched?.editor?.getCursorPosition();
      // still there: the cursor has not moved on meanwhile
      if (watched === cell && now && now.line === at.line && now.column === at.column && cell.editor?.hasFocus()) {
        void app.commands.execute(INVOKE_INLINE);
      }
    }, Math.max(50, s.debounceMs));
  };
  notebooks.activeCellChanged.connect((_, cell) => {
    watched?.model.contentChanged.disconnect(onChange);
    watched = cell;
    cell?.model.contentChanged.connect(onChange);
  });
}
