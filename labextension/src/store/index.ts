/**
 * ChatStore: the state of the sidebar and every action on it. The server is the store of record
 * (sessions, messages, models, collections); the store holds what is on screen in one
 * {@link Cell} that React subscribes to (`useSyncExternalStore`). The actions live in slices:
 * `sessions` (the History list), `catalog` (models, collections, ingest jobs) and `thread` (the
 * open chat and its turns). This class holds the app frame (health, view, notices, composer)
 * and wires the slices together.
 */
import { ApiError, ChatApi } from '../api';
import { ContextKind, withContext } from '../context';
import { Attachments } from '../context/attachments';
import { typedRefs } from '../context/tokens';
import { WireContext } from '../context/items';
import { BUILTIN_DEFAULTS, ChatDefaults } from '../params';
import { RagRequest } from '../types';
import { CatalogApi, CatalogSlice, errorMessage, initialCatalog } from './catalog';
import { ChatMemory, LastChat } from './lastChat';
import { initialSessions, SessionsApi, SessionsSlice } from './sessions';
import { AppState, Cell, ChatState, HealthState, Notice, View } from './state';
import { initialThread, ThreadApi, ThreadSlice } from './thread';
import { DEFAULT_MAX_STEPS, initialTools, ToolsApi, ToolsEnv, ToolsSlice } from './tools';

export type { ChatState, Draft, HealthState, View } from './state';

/** Everything the store calls on the server (a `ChatApi` in the lab). */
export type StoreApi = SessionsApi & CatalogApi & ThreadApi & ToolsApi & Pick<ChatApi, 'health'>;

export interface ContextSource {
  (kind: ContextKind): { kind: ContextKind; label: string; text: string } | null;
}

const initialApp = (): AppState => ({
  health: { state: 'checking', message: 'Connecting to the chat server…' },
  view: 'chat',
  notice: null,
  composer: '',
  focusRequest: 0,
  contextKind: 'none',
  hasNotebook: false
});

export class ChatStore {
  constructor(api: StoreApi, defaults: ChatDefaults = BUILTIN_DEFAULTS, memory: ChatMemory | null = null) {
    this.api = api;
    this._defaults = defaults;
    this._cell = new Cell<ChatState>({ ...initialApp(), ...initialSessions(), ...initialCatalog(), ...initialThread(defaults), ...initialTools() });
    const fail = (err: unknown, what: string) => this.fail(err, what);
    this.catalog = new CatalogSlice({ api, cell: this._cell, fail });
    this.tools = new ToolsSlice(
      { api, cell: this._cell, fail },
      {
        executor: () => this.toolsEnv.executor(),
        allow: names => this.toolsEnv.allow(names),
        maxSteps: () => this.toolsEnv.maxSteps()
      }
    );
    this.thread = new ThreadSlice(
      { api, cell: this._cell, fail },
      {
        defaults: () => this._defaults,
        rag: () => this.rag(),
        saved: session => this.sessions.upsert(session),
        beginTools: () => this.tools.beginTurn(),
        toolEvent: ev => this.tools.handle(ev),
        endTools: () => this.tools.endTurn()
      }
    );
    this.sessions = new SessionsSlice(
      { api, cell: this._cell, fail },
      {
        onChanged: session => this.thread.sessionChanged(session),
        onDeleted: id => this.thread.sessionDeleted(id),
        onImported: async session => void (await this.thread.open(session.id))
      }
    );
    this._lastChat = memory ? new LastChat(this, memory) : null;
  }

  readonly api: StoreApi;
  readonly sessions: SessionsSlice;
  readonly catalog: CatalogSlice;
  readonly thread: ThreadSlice;
  readonly tools: ToolsSlice;
  contextSource: ContextSource | null = null;
  /** the composer's @-context chips (index.ts sets it; sent with the next message) */
  attachments: Attachments | null = null;
  /** the lab's side of tools: the notebook executor and the settings (index.ts sets it) */
  toolsEnv: ToolsEnv = { executor: () => null, allow: () => undefined, maxSteps: () => DEFAULT_MAX_STEPS };

  // --- subscription ------------------------------------------------------------------------
  subscribe = (listener: () => void): (() => void) => this._cell.subscribe(listener);
  getState = (): ChatState => this._cell.get();

  private set(patch: Partial<AppState>): void {
    this._cell.set(patch);
  }

  // --- settings ------------------------------------------------------------------------------
  get defaults(): ChatDefaults {
    return this._defaults;
  }
  setDefaults(defaults: ChatDefaults): void {
    this._defaults = defaults;
    this.thread.defaultsChanged();
  }
  setDefaultCollection(name: string): void {
    this.catalog.setDefaultCollection(name);
  }
  setDefaultContext(kind: ContextKind): void {
    this.set({ contextKind: kind });
  }

  // --- the frame -----------------------------------------------------------------------------
  get streaming(): boolean {
    return this.thread.streaming;
  }

  setView(view: View): void {
    this.set({ view });
    if (view === 'history') {
      void this.sessions.refresh();
    } else if (view === 'collections') {
      void this.catalog.refreshCollections();
    }
  }
  setNotice(notice: Notice | null): void {
    this.set({ notice });
  }
  setHasNotebook(hasNotebook: boolean): void {
    if (hasNotebook !== this.getState().hasNotebook) {
      this.set({ hasNotebook });
    }
  }
  setComposer(text: string): void {
    this.set({ composer: text });
  }
  /** Put text in the composer (appended to what is there) and focus it. */
  addToComposer(text: string): void {
    const s = this.getState();
    const before = s.composer;
    this.set({
      view: 'chat',
      composer: before && !before.endsWith('\n') ? `${before}\n${text}` : before + text,
      focusRequest: s.focusRequest + 1
    });
  }
  requestFocus(): void {
    this.set({ view: 'chat', focusRequest: this.getState().focusRequest + 1 });
  }
  setContextKind(kind: ContextKind): void {
    this.set({ contextKind: kind });
  }

  /** Say what failed; a lost server is re-checked (the banner then says so). */
  private fail(err: unknown, what: string): void {
    if (err instanceof ApiError && (err.offline || err.missing)) {
      void this.checkHealth();
    }
    this.set({ notice: { kind: 'error', text: `${what}: ${errorMessage(err)}` } });
  }

  // --- health --------------------------------------------------------------------------------
  async checkHealth(): Promise<boolean> {
    try {
      const h = await this.api.health();
      const engine = (h.engine ?? {}) as Record<string, unknown>;
      const wasDown = this.getState().health.state !== 'ok';
      this.set({
        health: {
          state: 'ok',
          message: '',
          version: h.version,
          defaultModel: typeof engine.default_model === 'string' ? engine.default_model : undefined
        }
      });
      if (wasDown) {
        void this.catalog.refreshModels();
        void this.sessions.refresh();
        void this.catalog.refreshCollections();
        void this._lastChat?.restore();
      }
      return true;
    } catch (err) {
      let state: HealthState = 'error';
      let text = errorMessage(err);
      if (err instanceof ApiError && err.missing) {
        state = 'missing';
        text =
          'The chat server extension (jupyter_chat_ext) is not running in this Jupyter server. ' +
          'Install the package in the environment of the server, check `jupyter server extension list`, then restart JupyterLab.';
      } else if (err instanceof ApiError && err.offline) {
        state = 'offline';
        text = 'The Jupyter server cannot be reached. Chat will come back when it answers again.';
      }
      this.set({ health: { state, message: text } });
      return false;
    }
  }

  // --- models --------------------------------------------------------------------------------
  /** The model of the open chat ('' = the server's default). */
  get selectedModel(): string {
    const s = this.getState();
    return (s.current ? s.current.model : s.draft.model) ?? '';
  }

  /** The model a turn will use, resolved as the server will resolve it. */
  get effectiveModel(): string {
    const s = this.getState();
    return this.selectedModel || s.health.defaultModel || s.models.find(m => m.kind === 'chat')?.id || '';
  }

  // --- chats ---------------------------------------------------------------------------------
  newChat(): void {
    this.thread.newChat();
  }

  /** Open a chat (the last-chat memory opens it quietly, in the background). */
  openSession(id: string, options: { quiet?: boolean; background?: boolean } = {}): Promise<boolean> {
    return this.thread.open(id, options);
  }

  private rag(): RagRequest | undefined {
    const collection = this.getState().collection;
    return collection ? { collection, k: 4, mode: 'hybrid' } : undefined;
  }

  /** Send the composer's text (with the chosen context). Resolves when the answer ends. */
  async send(text: string): Promise<void> {
    if (!text.trim() || this.streaming) {
      return;
    }
    // references typed by hand are the same as picked ones: chips, and out of the text (and so
    // out of the chat's title)
    const typed = typedRefs(text);
    const question = typed.text;
    if (typed.refs.length && this.attachments) {
      const items = await Promise.all(typed.refs.map(r => this.attachments!.addTyped(r.kind, r.arg)));
      const failed = items.filter(i => i.state === 'error');
      if (failed.length) {
        // nothing is sent without what was asked for: the question goes back to the composer
        this.setComposer(text);
        failed.forEach(i => this.attachments!.remove(i.id));
        this.setNotice({ kind: 'error', text: failed.map(i => `Cannot attach ${i.ref}: ${i.note ?? 'not found'}`).join('; ') });
        return;
      }
    }
    const kind = this.getState().contextKind;
    const ctx = kind !== 'none' && this.contextSource ? this.contextSource(kind) : null;
    await this.thread.send(withContext(question, ctx), this.attachments?.take() ?? []);
  }

  /** A turn with context in hand ("fix this error"); false while another turn streams. */
  sendWithContext(question: string, context: WireContext[]): boolean {
    // `streaming` turns true only once the session exists: a second click must not slip in
    if (this.streaming || this._contextTurn) {
      return false;
    }
    this.setView('chat');
    // a fix (an error with its cell) is a question of its own: a new chat, not the end of
    // whatever chat happens to be open (issue 20)
    if (this.getState().current || this.getState().conversation.messages.length) {
      this.thread.newChat();
    }
    this._contextTurn = true;
    void this.thread.send(question, context).finally(() => (this._contextTurn = false));
    return true;
  }

  stop(): void {
    this.thread.stop();
  }

  dispose(): void {
    this.thread.dispose();
    this._lastChat?.dispose();
    this._cell.clear();
  }

  private _cell: Cell<ChatState>;
  private _defaults: ChatDefaults;
  private _lastChat: LastChat | null;
  private _contextTurn = false;
}
