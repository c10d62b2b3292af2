/**
 * Bridges to the rest of JupyterLab: the active notebook (context, insert/replace cells), the
 * active editor selection, and opening a cited file at its location.
 */
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IEditorTracker } from '@jupyterlab/fileeditor';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { CellText, ContextKind, notebookAsText } from './context';
import { citationSelection, citationTarget } from './format';
import { Citation } from './types';

export class Workspace {
  constructor(
    readonly notebooks: INotebookTracker | null,
    readonly editors: IEditorTracker | null,
    readonly docManager: IDocumentManager | null
  ) {}

  get notebook(): NotebookPanel | null {
    return this.notebooks?.currentWidget ?? null;
  }

  kernelLanguage(panel: NotebookPanel | null = this.notebook): string {
    const meta = panel?.content.model?.sharedModel.getMetadata('language_info') as { name?: string } | undefined;
    return meta?.name ?? 'python';
  }

  /** The text of the active cell or the whole notebook, for the composer's "include" option. */
  context(kind: ContextKind): { kind: ContextKind; label: string; text: string } | null {
    const panel = this.notebook;
    if (kind === 'none' || !panel) {
      return null;
    }
    const name = panel.context.path.split('/').pop() ?? panel.context.path;
    if (kind === 'cell') {
      const cell = panel.content.activeCell;
      if (!cell) {
        return null;
      }
      const source = cell.model.sharedModel.getSource();
      const index = panel.content.activeCellIndex + 1;
      const lang = cell.model.type === 'code' ? this.kernelLanguage(panel) : '';
      const fenced = cell.model.type === 'code' ? notebookAsText([{ type: 'code', source }], lang).replace(/^# Cell 1\n/, '') : source;
      return { kind, label: `${name}, cell ${index}`, text: fenced };
    }
    const cells: CellText[] = [];
    for (const c of panel.content.model?.sharedModel.cells ?? []) {
      cells.push({ type: c.cell_type as CellText['type'], source: c.getSource() });
    }
    return { kind, label: name, text: notebookAsText(cells, this.kernelLanguage(panel)) };
  }

  /** The selected text in the focused notebook cell or file editor (or the whole cell). */
  selection(): { text: string; language: string } | null {
    const panel = this.notebook;
    const editorWidget = this.editors?.currentWidget ?? null;
    const fromEditor = (editor: any, language: string) => {
      if (!editor) {
        return null;
      }
      const sel = editor.getSelection();
      const start = editor.getOffsetAt(sel.start);
      const end = editor.getOffsetAt(sel.end);
      const source: string = editor.model.sharedModel.getSource();
      const text = start !== end ? source.slice(Math.min(start, end), Math.max(start, end)) : source;
      return text.trim() ? { text, language } : null;
    };
    // Prefer the widget that last had focus.
    if (editorWidget && (editorWidget.node.contains(document.activeElement) || !panel)) {
      const ext = editorWidget.context.path.split('.').pop() ?? '';
      return fromEditor(editorWidget.content.editor, ext === 'py' ? 'python' : ext);
    }
    if (panel?.content.activeCell) {
      const cell = panel.content.activeCell;
      return fromEditor(cell.editor, cell.model.type === 'code' ? this.kernelLanguage(panel) : 'markdown');
    }
    return null;
  }

  activeCellSource(): { text: string; language: string } | null {
    const panel = this.notebook;
    const cell = panel?.content.activeCell;
    if (!panel || !cell) {
      return null;
    }
    return { text: cell.model.sharedModel.getSource(), language: cell.model.type === 'code' ? this.kernelLanguage(panel) : 'markdown' };
  }

  /** Insert `code` as a new code cell below the active one; returns the notebook path. */
  insertCell(code: string, cellType: 'code' | 'markdown' = 'code'): string {
    const panel = this.notebook;
    const model = panel?.content.model;
    if (!panel || !model) {
      throw new Error('Open a notebook first: the code goes into the active notebook.');
    }
    const index = Math.max(0, panel.content.activeCellIndex + 1);
    model.sharedModel.insertCell(Math.min(index, model.sharedModel.cells.length), {
      cell_type: cellType,
      source: code.replace(/\n$/, ''),
      metadata: {}
    });
    panel.content.activeCellIndex = index;
    void panel.content.scrollToItem(index);
    return panel.context.path;
  }

  /** Replace the source of the active cell. */
  replaceActiveCell(code: string): string {
    const panel = this.notebook;
    const cell = panel?.content.activeCell;
    if (!panel || !cell) {
      throw new Error('Open a notebook and select a cell first.');
    }
    cell.model.sharedModel.setSource(code.replace(/\n$/, ''));
    return panel.context.path;
  }

  /**
   * Open the cited file and move to the cited page / cell / line when the location says where.
   * PDFs: JupyterLab's PDF viewer renders the file in an iframe and appends the document
   * fragment to its URL, so `#page=N` reaches the browser's viewer (chromium's and Firefox's
   * honour it); other viewers ignore the fragment and show the first page.
   */
  async openCitation(c: Citation): Promise<void> {
    if (!this.docManager) {
      throw new Error('No document manager.');
    }
    const path = c.source.replace(/^\.?\//, '');
    const widget = this.docManager.openOrReveal(path);
    if (!widget) {
      throw new Error(`Cannot open ${c.source}.`);
    }
    await widget.context.ready;
    const target = citationTarget(c);
    if (target.page !== null && /\.pdf$/i.test(path) && typeof (widget as any).setFragment === 'function') {
      // after the first render: a fragment set while it runs is dropped by the mime document
      await (widget as any).content?.ready;
      (widget as any).setFragment(`#page=${Math.max(1, Math.round(target.page))}`);
      return;
    }
    const content = (widget as any).content;
    if (target.cell !== null && content && typeof content.activeCellIndex === 'number') {
      content.activeCellIndex = target.cell;
      void content.scrollToItem?.(target.cell);
      return;
    }
    const editor = content?.editor;
    if (target.line !== null && editor && typeof editor.setCursorPosition === 'function') {
      const position = { line: Math.max(0, target.line - 1), column: 0 };
      editor.setCursorPosition(position);
      const range = citationSelection(target, line => (typeof editor.getLine === 'function' ? (editor.getLine(line) ?? '').length : 0));
      if (range) {
        editor.setSelection?.(range);
      }
      editor.revealPosition?.(position);
      editor.focus?.();
    }
  }
}
