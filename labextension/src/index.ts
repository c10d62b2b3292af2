/**
 * jupyter-chat-ext: the JupyterLab chat sidebar.
 */
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Clipboard, ICommandPalette, InputDialog, Notification } from '@jupyterlab/apputils';
import { ICompletionProviderManager } from '@jupyterlab/completer';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { IEditorTracker } from '@jupyterlab/fileeditor';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';

import { ChatApi } from './api';
import { ContextKind, explainPrompt, selectionPrompt } from './context';
import { Attachments } from './context/attachments';
import { labSources } from './context/sources';
import { applyWithPreview, FixTargets } from './fix/apply';
import { FIX_COMMAND, registerFixCommand } from './fix/command';
import { GENERATE_COMMAND, registerGenerateCommand } from './fix/generate';
import { ASK_OUTPUT, EXPLAIN_OUTPUT, registerOutputCommands } from './fix/output';
import { chatIcon } from './icons';
import { ChatInlineProvider } from './inline/provider';
import { modelsApi } from './models/api';
import { ModelsStore } from './models/store';
import { inlineSettingsFrom } from './inline/settings';
import { triggerOnBlankLines } from './inline/blankLine';
import { defaultsFromSettings } from './params';
import { ChatStore } from './store';
import { stateDBMemory } from './store/lastChat';
import { labTarget, NotebookTools } from './notebookTools';
import { DEFAULT_MAX_STEPS } from './store/tools';
import { MessageActions } from './views/messages';
import { ChatPanel } from './views/panel';
import { Workspace } from './workspace';

const PLUGIN_ID = 'jupyter-chat-ext:plugin';

export namespace CommandIDs {
  export const newChat = 'chat-ext:new-chat';
  export const focus = 'chat-ext:focus';
  export const sendSelection = 'chat-ext:send-selection';
  export const explainCell = 'chat-ext:explain-cell';
  export const stop = 'chat-ext:stop';
  export const addToCollection = 'chat-ext:add-to-collection';
  export const openModels = 'chat-ext:open-models';
}

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    Clipboard.copyToSystem(text);
  }
}

function download(text: string, filename: string, mime: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Chat with local models in a JupyterLab sidebar: sessions, streaming, RAG citations.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [
    ILabShell,
    ILayoutRestorer,
    ICommandPalette,
    ISettingRegistry,
    INotebookTracker,
    IEditorTracker,
    IDocumentManager,
    IDefaultFileBrowser,
    IStateDB,
    ICompletionProviderManager
  ],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    notebooks: INotebookTracker | null,
    editors: IEditorTracker | null,
    docManager: IDocumentManager | null,
    fileBrowser: IDefaultFileBrowser | null,
    stateDB: IStateDB | null,
    completionManager: ICompletionProviderManager | null
  ) => {
    const api = new ChatApi();
    // the state DB remembers the open chat across reloads (reopened once the server answers)
    const store = new ChatStore(api, undefined, stateDB ? stateDBMemory(stateDB) : null);
    const workspace = new Workspace(notebooks, editors, docManager);
    store.contextSource = kind => workspace.context(kind);
    // issue 10: @-context chips, "fix this error" (its answer applies to the cell it was about),
    // inline completion from the same engine (JupyterLab's inline completer drives it)
    store.attachments = new Attachments(labSources(api, app.serviceManager.contents, notebooks));
    const fixTargets = new FixTargets(notebooks);
    const inline = new ChatInlineProvider(api);
    completionManager?.registerInlineProvider(inline);
    if (completionManager && notebooks) {
      // ghost text on a new blank line too (JupyterLab starts it only after text: issue 20)
      triggerOnBlankLines(app, notebooks, () => inline.settings);
      // the engine reads a cell's context when it gets the cursor, before the first keystroke
      let warmTimer = 0;
      notebooks.activeCellChanged.connect(() => {
        window.clearTimeout(warmTimer);
        warmTimer = window.setTimeout(() => {
          const panel = notebooks.currentWidget;
          if (panel) {
            inline.warm(panel);
          }
        }, 150);
      });
    }
    // Tools: the notebook tools act on the notebook open when a turn starts; "always" is kept in
    // the settings' allow-list (read back below, so the Settings Editor can take tools off it).
    let pluginSettings: ISettingRegistry.ISettings | null = null;
    let maxSteps = DEFAULT_MAX_STEPS;
    store.toolsEnv = {
      executor: () => {
        const panel = notebooks?.currentWidget;
        return panel ? new NotebookTools(labTarget(panel, NotebookActions)) : null;
      },
      allow: names => {
        pluginSettings?.set('toolAllowlist', names).catch(reason => console.error('jupyter-chat-ext: cannot save the tool allow-list', reason));
      },
      maxSteps: () => maxSteps
    };

    const notify = (text: string, kind: 'error' | 'info' = 'info') => store.setNotice({ kind, text });
    const actions: MessageActions = {
      copy: code => void copyText(code).then(() => Notification.info('Code copied', { autoClose: 1500 })),
      insert: code => {
        try {
          const path = workspace.insertCell(code);
          Notification.success(`Inserted a cell in ${path}`, { autoClose: 2000 });
        } catch (err) {
          notify((err as Error).message, 'error');
        }
      },
      apply: code => void applyWithPreview(fixTargets, code),
      replace: code => {
        try {
          const path = workspace.replaceActiveCell(code);
          Notification.success(`Replaced the active cell of ${path}`, { autoClose: 2000 });
        } catch (err) {
          notify((err as Error).message, 'error');
        }
      },
      copyMessage: m => void copyText(m.content).then(() => Notification.info('Message copied', { autoClose: 1500 })),
      regenerate: () => void store.thread.regenerate(),
      continueAnswer: id => void store.thread.continueAnswer(id),
      chooseVersion: (parentId, id) => store.thread.chooseVersion(parentId, id),
      editAndResend: (id, content) => void store.thread.editAndResend(id, content),
      remove: id => void store.thread.deleteMessage(id),
      openCitation: c =>
        void workspace.openCitation(c).catch(err => notify(`Cannot open ${c.source}: ${(err as Error).message}`, 'error'))
    };

    // the Models tab: pulls, roles and providers change what the model picker offers
    const models = new ModelsStore(modelsApi(api), {
      onModelsChanged: () => {
        void store.catalog.refreshModels();
        void store.checkHealth();
      }
    });
    const panel = new ChatPanel({
      models,
      store,
      rendermime,
      actions,
      download,
      openSettings: () => void app.commands.execute('settingeditor:open', { query: 'Chat' })
    });
    panel.title.caption = 'Chat (local models)';
    app.shell.add(panel, 'right', { rank: 400 });
    restorer?.add(panel, 'jupyter-chat-ext');

    const updateNotebook = () => store.setHasNotebook(!!notebooks?.currentWidget);
    notebooks?.currentChanged.connect(updateNotebook);
    updateNotebook();

    // Health: at start, then every 15 s while the server extension does not answer.
    void store.checkHealth();
    const timer = setInterval(() => {
      if (store.getState().health.state !== 'ok') {
        void store.checkHealth();
      }
    }, 15000);
    panel.disposed.connect(() => {
      clearInterval(timer);
      store.dispose();
      models.dispose();
    });

    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          pluginSettings = settings;
          const apply = () => {
            const raw = settings.composite as Record<string, unknown>;
            inline.settings = inlineSettingsFrom(raw);
            if (!inline.settings.enabled) {
              inline.cancel();
            }
            store.tools.setAllowlist(Array.isArray(raw.toolAllowlist) ? raw.toolAllowlist : []);
            maxSteps = typeof raw.toolMaxSteps === 'number' && raw.toolMaxSteps >= 1 ? Math.round(raw.toolMaxSteps) : DEFAULT_MAX_STEPS;
            store.setDefaults(defaultsFromSettings(raw));
            if (typeof raw.defaultCollection === 'string') {
              store.setDefaultCollection(raw.defaultCollection);
            }
            const ctx = raw.includeContext;
            if (ctx === 'none' || ctx === 'cell' || ctx === 'notebook') {
              store.setDefaultContext(ctx as ContextKind);
            }
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => console.error('jupyter-chat-ext: cannot load settings', reason));
    }

    const show = () => {
      if (labShell) {
        labShell.activateById(panel.id);
      } else {
        app.shell.activateById(panel.id);
      }
    };

    const { commands } = app;
    commands.addCommand(CommandIDs.newChat, {
      label: 'New Chat',
      caption: 'Start a new chat in the chat sidebar',
      icon: chatIcon,
      execute: () => {
        store.newChat();
        show();
        store.requestFocus();
      }
    });
    commands.addCommand(CommandIDs.openModels, {
      label: 'Models and Providers',
      caption: 'Find, pull and choose models; add OpenAI-compatible providers',
      execute: args => {
        store.setView('models');
        const section = String(args.section ?? '');
        if (section === 'installed' || section === 'catalog' || section === 'search' || section === 'providers') {
          models.setSection(section);
        }
        show();
      }
    });
    commands.addCommand(CommandIDs.focus, {
      label: 'Focus Chat',
      caption: 'Open the chat sidebar and put the cursor in the message box',
      execute: () => {
        show();
        store.requestFocus();
      }
    });
    commands.addCommand(CommandIDs.sendSelection, {
      label: 'Send Selection to Chat',
      caption: 'Put the selected code (or the active cell) in the chat message box',
      execute: () => {
        const sel = workspace.selection();
        if (!sel) {
          Notification.warning('Select some code in a notebook or an editor first.', { autoClose: 3000 });
          return;
        }
        show();
        store.addToComposer(selectionPrompt(sel.text, sel.language));
      }
    });
    commands.addCommand(CommandIDs.explainCell, {
      label: 'Explain This Cell',
      caption: 'Ask the chat to explain the active notebook cell',
      isEnabled: () => !!notebooks?.activeCell,
      execute: () => {
        const cell = workspace.activeCellSource();
        if (!cell || !cell.text.trim()) {
          Notification.warning('The active cell is empty.', { autoClose: 3000 });
          return;
        }
        show();
        if (store.streaming) {
          store.addToComposer(explainPrompt(cell.text, cell.language));
          return;
        }
        void store.send(explainPrompt(cell.text, cell.language));
      }
    });
    commands.addCommand(CommandIDs.stop, {
      label: 'Stop Generating',
      caption: 'Stop the answer being generated in the chat',
      isEnabled: () => store.streaming,
      execute: () => store.stop()
    });
    commands.addCommand(CommandIDs.addToCollection, {
      label: 'Add to Chat Collection…',
      caption: 'Index the selected files or folders for retrieval in the chat',
      icon: chatIcon,
      isVisible: () => !!fileBrowser,
      execute: async () => {
        const paths = fileBrowser ? Array.from(fileBrowser.selectedItems()).map(item => item.path) : [];
        if (!paths.length) {
          Notification.warning('Select files or folders in the file browser first.', { autoClose: 3000 });
          return;
        }
        await store.catalog.refreshCollections();
        const names = store.getState().collections.map(c => c.name);
        const result = await InputDialog.getItem({
          title: `Add ${paths.length === 1 ? paths[0] : `${paths.length} items`} to a chat collection`,
          label: 'Collection (pick one, or type a new name)',
          items: names.length ? names : ['docs'],
          current: store.getState().collection || names[0] || 'docs',
          editable: true,
          okLabel: 'Add'
        });
        const name = result.value?.trim();
        if (!result.button.accept || !name) {
          return;
        }
        if (!store.getState().collections.some(c => c.name === name) && !(await store.catalog.createCollection(name))) {
          Notification.error(store.getState().notice?.text ?? `Could not create the collection ${name}.`);
          return;
        }
        const id = Notification.emit(`Adding ${paths.length} item(s) to ${name}…`, 'in-progress', { autoClose: false });
        try {
          const job = await store.catalog.addDocuments(name, paths, j =>
            Notification.update({
              id,
              message: `Indexing into ${name}: ${j.files_done}/${j.files_total} files, ${j.chunks} chunks`,
              type: 'in-progress'
            })
          );
          if (job.state === 'done') {
            const skipped = job.skipped?.length ? `, ${job.skipped.length} skipped` : '';
            Notification.update({
              id,
              message: `${name}: ${job.files_done} files, ${job.chunks} chunks indexed${skipped}.`,
              type: 'success',
              autoClose: 5000
            });
            store.catalog.setCollection(name);
          } else {
            Notification.update({ id, message: `Indexing into ${name} failed: ${(typeof job.error === 'string' ? job.error : job.error?.message) ?? 'unknown error'}`, type: 'error', autoClose: false });
          }
        } catch (err) {
          Notification.update({ id, message: `Indexing into ${name} failed: ${(err as Error).message}`, type: 'error', autoClose: false });
        }
      }
    });

    if (notebooks) {
      registerFixCommand(app, notebooks, fixTargets, {
        send: (question, context) => {
          show();
          return store.sendWithContext(question, context);
        }
      });
      // issue 20: help on any output (not only an error), and code from a prompt in the cell
      registerOutputCommands(app, notebooks, {
        send: (question, context) => {
          show();
          return store.sendWithContext(question, context);
        },
        attach: item => {
          show();
          store.attachments?.addReady(item);
          store.requestFocus();
        }
      });
      registerGenerateCommand(app, notebooks, () => store.effectiveModel || null);
    }

    if (palette) {
      const category = 'Chat';
      for (const command of [CommandIDs.newChat, CommandIDs.focus, CommandIDs.sendSelection, CommandIDs.explainCell, CommandIDs.stop, CommandIDs.openModels, FIX_COMMAND, EXPLAIN_OUTPUT, ASK_OUTPUT, GENERATE_COMMAND]) {
        palette.addItem({ command, category });
      }
    }
  }
};

export default plugin;
