/**
 * ChatStore: the state of the sidebar and every action on it. The server is the store of record
 * (sessions, messages, models, collections); this class holds what is on screen and talks to the
 * server through {@link ChatApi}. React subscribes with `useSyncExternalStore`.
 */
import { ApiError, ChatApi, StreamHandle } from './api';
import {
  applyEvent,
  beginEdit,
  beginRegenerate,
  beginSend,
  Conversation,
  emptyConversation,
  endStream,
  loaded,
  prependOlder,
  removeMessage
} from './conversation';
import { ContextKind, withContext } from './context';
import { BUILTIN_DEFAULTS, ChatDefaults, effectiveParams } from './params';
import { ChatEvent, Collection, GenerationParams, IngestJob, ModelInfo, RagRequest, Session } from './types';

export type HealthState = 'checking' | 'ok' | 'missing' | 'offline' | 'error';
export type View = 'chat' | 'history' | 'collections';

export interface Draft {
  model: string | null;
  system_prompt: string | null;
  params: GenerationParams;
}

export interface ChatState {
  health: { state: HealthState; message: string; version?: string; defaultModel?: string };
  view: View;
  sessions: Session[];
  sessionsTotal: number;
  query: string;
  sessionsLoading: boolean;
  current: Session | null;
  draft: Draft;
  conversation: Conversation;
  messagesLoading: boolean;
  models: ModelInfo[];
  modelsError: string | null;
  collections: Collection[];
  jobs: IngestJob[];
  contextKind: ContextKind;
  collection: string;
  notice: { kind: 'error' | 'info'; text: string } | null;
  /** the composer's text (commands can fill it) and a counter that asks it to take focus */
  composer: string;
  focusRequest: number;
  /** whether a notebook is open (the "include context" choices need one) */
  hasNotebook: boolean;
}

export interface ContextSource {
  (kind: ContextKind): { kind: ContextKind; label: string; text: string } | null;
}

const POLL_MS = 500;

function message(err: unknown): string {
  if (err instanceof ApiError) {
    return err.message;
  }
  return String((err as Error)?.message ?? err);
}

export class ChatStore {
  constructor(api: ChatApi, defaults: ChatDefaults = BUILTIN_DEFAULTS) {
    this.api = api;
    this._defaults = defaults;
    this._state = {
      health: { state: 'checking', message: 'Connecting to the chat server…' },
      view: 'chat',
      sessions: [],
      sessionsTotal: 0,
      query: '',
      sessionsLoading: false,
      current: null,
      draft: this.freshDraft(),
      conversation: emptyConversation(),
      messagesLoading: false,
      models: [],
      modelsError: null,
      collections: [],
      jobs: [],
      contextKind: 'none',
      collection: '',
      notice: null,
      composer: '',
      focusRequest: 0,
      hasNotebook: false
    };
  }

  readonly api: ChatApi;
  contextSource: ContextSource | null = null;

  // --- subscription ------------------------------------------------------------------------
  subscribe = (listener: () => void): (() => void) => {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  };
  getState = (): ChatState => this._state;

  private set(patch: Partial<ChatState>): void {
    this._state = { ...this._state, ...patch };
    for (const l of this._listeners) {
      l();
    }
  }

  get defaults(): ChatDefaults {
    return this._defaults;
  }
  setDefaults(defaults: ChatDefaults): void {
    this._defaults = defaults;
    if (!this._state.current && this._state.conversation.messages.length === 0) {
      this.set({ draft: this.freshDraft() });
    }
  }
  setDefaultCollection(name: string): void {
    if (!this._state.collection) {
      this.set({ collection: name });
    }
  }
  setDefaultContext(kind: ContextKind): void {
    this.set({ contextKind: kind });
  }

  private freshDraft(): Draft {
    return {
      model: this._defaults.model || null,
      system_prompt: this._defaults.systemPrompt || null,
      params: {}
    };
  }

  get streaming(): boolean {
    return this._stream !== null;
  }

  setView(view: View): void {
    this.set({ view });
    if (view === 'history') {
      void this.refreshSessions();
    } else if (view === 'collections') {
      void this.refreshCollections();
    }
  }
  setNotice(notice: ChatState['notice']): void {
    this.set({ notice });
  }
  setHasNotebook(hasNotebook: boolean): void {
    if (hasNotebook !== this._state.hasNotebook) {
      this.set({ hasNotebook });
    }
  }
  setComposer(text: string): void {
    this.set({ composer: text });
  }
  /** Put text in the composer (appended to what is there) and focus it. */
  addToComposer(text: string): void {
    const before = this._state.composer;
    this.set({
      view: 'chat',
      composer: before && !before.endsWith('\n') ? `${before}\n${text}` : before + text,
      focusRequest: this._state.focusRequest + 1
    });
  }
  requestFocus(): void {
    this.set({ view: 'chat', focusRequest: this._state.focusRequest + 1 });
  }
  setContextKind(kind: ContextKind): void {
    this.set({ contextKind: kind });
  }
  setCollection(name: string): void {
    this.set({ collection: name });
  }

  private fail(err: unknown, what: string): void {
    if (err instanceof ApiError && (err.offline || err.missing)) {
      void this.checkHealth();
    }
    this.set({ notice: { kind: 'error', text: `${what}: ${message(err)}` } });
  }

  // --- health --------------------------------------------------------------------------------
  async checkHealth(): Promise<boolean> {
    try {
      const h = await this.api.health();
      const engine = (h.engine ?? {}) as Record<string, unknown>;
      const wasDown = this._state.health.state !== 'ok';
      this.set({
        health: {
          state: 'ok',
          message: '',
          version: h.version,
          defaultModel: typeof engine.default_model === 'string' ? engine.default_model : undefined
        }
      });
      if (wasDown) {
        void this.refreshModels();
        void this.refreshSessions();
        void this.refreshCollections();
      }
      return true;
    } catch (err) {
      let state: HealthState = 'error';
      let text = message(err);
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
  async refreshModels(): Promise<void> {
    try {
      const models = await this.api.models();
      this.set({ models, modelsError: null });
      for (const m of models) {
        if (m.state === 'loading') {
          void this.pollModel(m.id);
        }
      }
    } catch (err) {
      this.set({ modelsError: message(err) });
    }
  }

  /** The model of the open chat ('' = the server's default). */
  get selectedModel(): string {
    const s = this._state;
    return (s.current ? s.current.model : s.draft.model) ?? '';
  }

  /** The model a turn will use, resolved as the server will resolve it. */
  get effectiveModel(): string {
    return this.selectedModel || this._state.health.defaultModel || this._state.models.find(m => m.kind === 'chat')?.id || '';
  }

  async selectModel(id: string): Promise<void> {
    const s = this._state;
    if (s.current) {
      try {
        const updated = await this.api.updateSession(s.current.id, { model: id || null } as Partial<Session>);
        this.replaceSession(updated);
      } catch (err) {
        this.fail(err, 'Could not change the model');
      }
    } else {
      this.set({ draft: { ...s.draft, model: id || null } });
    }
  }

  private updateModel(info: ModelInfo): void {
    const models = this._state.models.some(m => m.id === info.id)
      ? this._state.models.map(m => (m.id === info.id ? { ...m, ...info } : m))
      : [...this._state.models, info];
    this.set({ models });
  }

  async loadModel(id: string): Promise<void> {
    try {
      this.updateModel({ ...(this._state.models.find(m => m.id === id) as ModelInfo), id, state: 'loading', progress: 0, error: null });
      const info = await this.api.loadModel(id);
      this.updateModel(info);
      await this.pollModel(id);
    } catch (err) {
      this.updateModel({ ...(this._state.models.find(m => m.id === id) as ModelInfo), state: 'error', error: message(err) });
      this.fail(err, `Could not load ${id}`);
    }
  }

  async unloadModel(id: string): Promise<void> {
    try {
      this.updateModel(await this.api.unloadModel(id));
    } catch (err) {
      this.fail(err, `Could not unload ${id}`);
    }
  }

  private async pollModel(id: string): Promise<void> {
    if (this._polling.has(id)) {
      return;
    }
    this._polling.add(id);
    try {
      for (;;) {
        const info = await this.api.model(id);
        this.updateModel(info);
        if (info.state !== 'loading') {
          if (info.state === 'error') {
            this.set({ notice: { kind: 'error', text: `Model ${id} failed to load: ${info.error ?? 'unknown error'}` } });
          }
          return;
        }
        await new Promise(r => setTimeout(r, POLL_MS));
      }
    } catch (err) {
      this.set({ modelsError: message(err) });
    } finally {
      this._polling.delete(id);
    }
  }

  // --- sessions ------------------------------------------------------------------------------
  async refreshSessions(query = this._state.query): Promise<void> {
    const seq = ++this._sessionsSeq;
    this.set({ sessionsLoading: true, query });
    try {
      const { sessions, total } = await this.api.sessions(query.trim(), 200);
      if (seq === this._sessionsSeq) {
        this.set({ sessions, sessionsTotal: total, sessionsLoading: false });
      }
    } catch (err) {
      if (seq === this._sessionsSeq) {
        this.set({ sessionsLoading: false });
        this.fail(err, 'Could not list chats');
      }
    }
  }

  private replaceSession(session: Session): void {
    const s = this._state;
    this.set({
      sessions: s.sessions.map(x => (x.id === session.id ? session : x)),
      current: s.current && s.current.id === session.id ? session : s.current
    });
  }

  newChat(): void {
    this.stop();
    this.set({
      current: null,
      draft: this.freshDraft(),
      conversation: emptyConversation(),
      view: 'chat',
      notice: null
    });
  }

  async openSession(id: string): Promise<void> {
    if (this._state.current?.id === id && this._state.view === 'chat' && !this._state.messagesLoading) {
      return;
    }
    this.stop();
    this.set({ view: 'chat', messagesLoading: true, notice: null });
    try {
      const [session, page] = await Promise.all([this.api.session(id), this.api.messages(id)]);
      this.set({
        current: session,
        conversation: loaded(id, page.messages, page.has_more),
        messagesLoading: false
      });
    } catch (err) {
      this.set({ messagesLoading: false });
      this.fail(err, 'Could not open the chat');
    }
  }

  async loadOlder(): Promise<void> {
    const conv = this._state.conversation;
    const first = conv.messages.find(m => m.id > 0);
    if (!conv.sessionId || !conv.hasMore || !first) {
      return;
    }
    try {
      const page = await this.api.messages(conv.sessionId, first.id);
      this.set({ conversation: prependOlder(this._state.conversation, page.messages, page.has_more) });
    } catch (err) {
      this.fail(err, 'Could not load older messages');
    }
  }

  async renameSession(id: string, title: string): Promise<void> {
    try {
      this.replaceSession(await this.api.updateSession(id, { title }));
    } catch (err) {
      this.fail(err, 'Could not rename');
    }
  }

  async togglePin(session: Session): Promise<void> {
    try {
      this.replaceSession(await this.api.updateSession(session.id, { pinned: !session.pinned }));
      await this.refreshSessions();
    } catch (err) {
      this.fail(err, 'Could not pin');
    }
  }

  async deleteSession(id: string): Promise<void> {
    try {
      await this.api.deleteSession(id);
      if (this._state.current?.id === id) {
        this.newChat();
        this.set({ view: 'history' });
      }
      this.set({ sessions: this._state.sessions.filter(s => s.id !== id), sessionsTotal: Math.max(0, this._state.sessionsTotal - 1) });
    } catch (err) {
      this.fail(err, 'Could not delete');
    }
  }

  async saveOptions(systemPrompt: string | null, params: GenerationParams): Promise<void> {
    const s = this._state;
    if (s.current) {
      try {
        this.replaceSession(await this.api.updateSession(s.current.id, { system_prompt: systemPrompt, params } as Partial<Session>));
        this.set({ notice: { kind: 'info', text: 'Options saved for this chat.' } });
      } catch (err) {
        this.fail(err, 'Could not save the options');
      }
    } else {
      this.set({ draft: { ...s.draft, system_prompt: systemPrompt, params }, notice: { kind: 'info', text: 'Options set for this new chat.' } });
    }
  }

  exportSession(id: string, format: 'markdown' | 'json'): Promise<{ text: string; filename: string }> {
    return this.api.exportSession(id, format);
  }

  async importSession(text: string): Promise<Session | null> {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      this.set({ notice: { kind: 'error', text: 'Import: the file is not JSON (import takes a JSON export).' } });
      return null;
    }
    try {
      const session = await this.api.importSession(data);
      await this.refreshSessions();
      await this.openSession(session.id);
      return session;
    } catch (err) {
      this.fail(err, 'Import failed');
      return null;
    }
  }

  // --- turns ---------------------------------------------------------------------------------
  private currentParams(): GenerationParams {
    const s = this._state;
    return effectiveParams(this._defaults, s.current ? s.current.params : s.draft.params);
  }

  private rag(): RagRequest | undefined {
    return this._state.collection ? { collection: this._state.collection, k: 4, mode: 'hybrid' } : undefined;
  }

  private async ensureSession(): Promise<Session> {
    const s = this._state;
    if (s.current) {
      return s.current;
    }
    const fields: Record<string, unknown> = {};
    if (s.draft.model) {
      fields.model = s.draft.model;
    }
    if (s.draft.system_prompt) {
      fields.system_prompt = s.draft.system_prompt;
    }
    if (Object.keys(s.draft.params).length) {
      fields.params = s.draft.params;
    }
    const session = await this.api.createSession(fields);
    this.set({ current: session, sessions: [session, ...this._state.sessions] });
    return session;
  }

  private run(handle: StreamHandle): Promise<void> {
    this._stream = handle;
    this.set({});
    return handle.finished.then(outcome => {
      if (this._stream === handle) {
        this._stream = null;
      }
      if (outcome === 'aborted' || outcome === 'closed') {
        this.set({
          conversation: endStream(
            this._state.conversation,
            outcome === 'aborted' ? 'interrupted' : 'error',
            outcome === 'closed' ? 'The stream ended before the answer was complete.' : undefined
          )
        });
      } else {
        this.set({});
      }
      void this.afterTurn();
    });
  }

  private onEvent = (ev: ChatEvent): void => {
    this.set({ conversation: applyEvent(this._state.conversation, ev) });
  };

  private async afterTurn(): Promise<void> {
    const id = this._state.current?.id;
    if (!id) {
      return;
    }
    try {
      const session = await this.api.session(id);
      this.replaceSession(session);
      if (!this._state.sessions.some(s => s.id === id)) {
        this.set({ sessions: [session, ...this._state.sessions] });
      }
    } catch {
      // the list refreshes on the next visit
    }
  }

  /** Send the composer's text (with the chosen context). Resolves when the answer ends. */
  async send(text: string): Promise<void> {
    const question = text.trim();
    if (!question || this.streaming) {
      return;
    }
    const ctx = this._state.contextKind !== 'none' && this.contextSource ? this.contextSource(this._state.contextKind) : null;
    const content = withContext(question, ctx);
    let session: Session;
    try {
      session = await this.ensureSession();
    } catch (err) {
      this.fail(err, 'Could not start the chat');
      return;
    }
    this.set({ conversation: beginSend({ ...this._state.conversation, sessionId: session.id }, session.id, content), notice: null });
    await this.run(this.api.chat(session.id, { content, params: this.currentParams(), rag: this.rag() }, this.onEvent));
  }

  async regenerate(): Promise<void> {
    const session = this._state.current;
    if (!session || this.streaming) {
      return;
    }
    this.set({ conversation: beginRegenerate(this._state.conversation), notice: null });
    await this.run(this.api.regenerate(session.id, { params: this.currentParams(), rag: this.rag() }, this.onEvent));
  }

  async editAndResend(messageId: number, content: string): Promise<void> {
    const session = this._state.current;
    if (!session || this.streaming || !content.trim()) {
      return;
    }
    this.set({ conversation: beginEdit(this._state.conversation, messageId, content), notice: null });
    await this.run(this.api.editAndResend(session.id, messageId, { content, params: this.currentParams(), rag: this.rag() }, this.onEvent));
  }

  /** Stop the answer being generated (aborts the request; the server keeps the partial). */
  stop(): void {
    this._stream?.abort();
  }

  async deleteMessage(messageId: number): Promise<void> {
    const session = this._state.current;
    if (!session) {
      return;
    }
    try {
      if (messageId > 0) {
        await this.api.deleteMessage(session.id, messageId);
      }
      this.set({ conversation: removeMessage(this._state.conversation, messageId) });
    } catch (err) {
      this.fail(err, 'Could not delete the message');
    }
  }

  // --- collections ---------------------------------------------------------------------------
  async refreshCollections(): Promise<void> {
    try {
      const collections = await this.api.collections();
      const chosen = this._state.collection;
      this.set({ collections, collection: chosen && !collections.some(c => c.name === chosen) ? '' : chosen });
    } catch (err) {
      if (!(err instanceof ApiError && (err.offline || err.missing))) {
        this.set({ notice: { kind: 'error', text: `Could not list collections: ${message(err)}` } });
      }
    }
  }

  async createCollection(name: string): Promise<boolean> {
    try {
      await this.api.createCollection(name.trim());
      await this.refreshCollections();
      return true;
    } catch (err) {
      this.fail(err, 'Could not create the collection');
      return false;
    }
  }

  async deleteCollection(name: string): Promise<void> {
    try {
      await this.api.deleteCollection(name);
      await this.refreshCollections();
    } catch (err) {
      this.fail(err, 'Could not delete the collection');
    }
  }

  /** Start ingesting files/folders; resolves with the finished job (polled). */
  async addDocuments(name: string, paths: string[], onProgress?: (job: IngestJob) => void): Promise<IngestJob> {
    let job = await this.api.addDocuments(name, paths);
    const track = (j: IngestJob) => {
      const others = this._state.jobs.filter(x => x.id !== j.id);
      this.set({ jobs: [j, ...others].slice(0, 10) });
      onProgress?.(j);
    };
    track(job);
    while (job.state === 'queued' || job.state === 'running') {
      await new Promise(r => setTimeout(r, POLL_MS));
      job = await this.api.job(job.id);
      track(job);
    }
    void this.refreshCollections();
    return job;
  }

  dispose(): void {
    this.stop();
    this._listeners.clear();
  }

  private _state: ChatState;
  private _defaults: ChatDefaults;
  private _listeners = new Set<() => void>();
  private _stream: StreamHandle | null = null;
  private _polling = new Set<string>();
  private _sessionsSeq = 0;
}
