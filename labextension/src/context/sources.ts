/** The lab's side of @-context: files through the server, cells and kernels of the active notebook. */
import { Contents } from '@jupyterlab/services';
import { INotebookTracker } from '@jupyterlab/notebook';

import { ChatApi } from '../api';
import { ContextSources } from './attachments';
import { cellText, ITEM_MAX_CHARS, OutputJSON } from './items';
import { KernelLike } from './kernelVars';

export function labSources(api: ChatApi, contents: Contents.IManager, notebooks: INotebookTracker | null): ContextSources {
  const panel = () => notebooks?.currentWidget ?? null;
  return {
    async file(path) {
      // the server reads it through the RAG loaders (pdf, docx, ipynb...), confined to its root
      const r = await api.json<{ path: string; text: string; truncated: boolean; chars: number }>('context/file', {
        method: 'POST',
        body: JSON.stringify({ path, max_chars: ITEM_MAX_CHARS }),
        headers: { 'Content-Type': 'application/json' }
      });
      return { label: r.path, text: r.text, truncated: r.truncated };
    },
    async listDir(dir) {
      const model = await contents.get(dir, { content: true });
      const entries = Array.isArray(model.content) ? (model.content as Contents.IModel[]) : [];
      return entries
        .filter(e => !e.name.startsWith('.'))
        .map(e => ({ name: e.name, path: e.path, type: e.type as 'file' | 'directory' | 'notebook' }))
        .sort((a, b) => (a.type === 'directory') === (b.type === 'directory') ? a.name.localeCompare(b.name) : a.type === 'directory' ? -1 : 1);
    },
    cell(index) {
      const p = panel();
      if (!p) {
        throw new Error('no notebook open');
      }
      const i = index ?? p.content.activeCellIndex;
      const cell = p.content.widgets[i];
      if (!cell) {
        throw new Error(`no cell ${i + 1} (the notebook has ${p.content.widgets.length})`);
      }
      const meta = p.content.model?.sharedModel.getMetadata('language_info') as { name?: string } | undefined;
      const outputs: OutputJSON[] = cell.model.type === 'code' ? ((cell.model as any).outputs?.toJSON?.() ?? []) : [];
      const name = p.context.path.split('/').pop();
      return { label: `${name}, cell ${i + 1}`, text: cellText(cell.model.sharedModel.getSource(), outputs, meta?.name ?? 'python', cell.model.type) };
    },
    async findFiles(query) {
      // the server walks its root (hidden files only where the contents API shows them)
      const r = await api.json<{ files: { name: string; path: string; type: 'file' | 'notebook' }[] }>(
        `context/files?q=${encodeURIComponent(query)}&limit=20`
      );
      return r.files;
    },
    cellCount() {
      return panel()?.content.widgets.length ?? 0;
    },
    kernel() {
      return (panel()?.sessionContext.session?.kernel ?? null) as unknown as KernelLike | null;
    }
  };
}
