/**
 * The open chat: its session, its messages, the turn streaming in this page (send, regenerate,
 * edit and resend, continue, stop), the answer version shown per turn, and the wait before a
 * refused turn is tried again.
 */
import { ApiError, ChatApi, RetryInfo, StreamHandle, StreamOptions } from '../api';
import {
  applyEvent,
  beginContinue,
  beginEdit,
  beginRegenerate,
  beginSend,
  emptyConversation,
  endStream,
  errorText,
  loaded,
  mergeLatest,
  prependOlder,
  removeMessage,
  restoreMessage
} from '../conversation';
import { WireContext } from '../context/items';
import { ChatDefaults, effectiveParams } from '../params';
import { ChatEvent, GenerationParams, Message, RagRequest, Session, ToolsRequest } from '../types';
import { Draft, SliceDeps, ThreadState } from './state';

export type ThreadApi = Pick<
  ChatApi,
  'session' | 'messages' | 'message' | 'createSession' | 'updateSession' | 'chat' | 'regenerate' | 'editAndResend' | 'continueAnswer' | 'deleteMessage' | 'switchBranch'
>;

/** How often a chat whose answer another client is writing is read again. */
export const REMOTE_POLL_MS = 1500;
/** Right after a stop the server may still be saving the stopped answer (continue: 409). */
const SETTLE_MS = 300;
const SETTLE_TRIES = 10;
/** How long a deleted message can be brought back (Undo) before the server deletes it. */
export const UNDO_DELETE_MS = 6000;

export interface ThreadEnv {
  defaults(): ChatDefaults;
  rag(): RagRequest | undefined;
  /** a session was created or changed by the thread (the list follows) */
  saved(session: Session): void;
  /** agent turns (store/tools.ts): a turn starts (its `tools`), an event came, the turn ended */
  beginTools?(): ToolsRequest | undefined;
  toolEvent?(ev: ChatEvent): void;
  endTools?(): void;
}

export function freshDraft(defaults: ChatDefaults): Draft {
  return { model: defaults.model || null, system_prompt: defaults.systemPrompt || null, params: {} };
}

export const initialThread = (defaults: ChatDefaults): ThreadState => ({
  current: null,
  draft: freshDraft(defaults),
  conversation: emptyConversation(),
  messagesLoading: false,
  streaming: false,
  versions: {},
  retry: null
});

export class ThreadSlice {
  constructor(
    private readonly deps: SliceDeps<ThreadApi>,
    private readonly env: ThreadEnv
  ) {}

  private get state(): ThreadState {
    return this.deps.cell.get();
  }
  private set(patch: Partial<ThreadState>): void {
    this.deps.cell.set(patch);
  }

  get streaming(): boolean {
    return this._stream !== null;
  }

  /** New settings: a chat that has not started yet takes the new defaults. */
  defaultsChanged(): void {
    if (!this.state.current && this.state.conversation.messages.length === 0) {
      this.set({ draft: freshDraft(this.env.defaults()) });
    }
  }

  // --- which chat is open -------------------------------------------------------------------
  newChat(): void {
    this.stop();
    this.flushDelete();
    this.set({
      current: null,
      draft: freshDraft(this.env.defaults()),
      conversation: emptyConversation(),
      versions: {},
      retry: null
    });
    this.deps.cell.set({ view: 'chat', notice: null });
  }

  /**
   * Open a session. `quiet`: a chat that no longer exists is not an error (the one remembered
   * from the last visit may have been deleted since); resolves false then. `background`: load it
   * without switching to the Chat tab, and only if the user has not started a chat meanwhile
   * (the reopening of the last chat at start-up must not pull the user out of what they do).
   */
  async open(id: string, options: { quiet?: boolean; background?: boolean } = {}): Promise<boolean> {
    const s = this.deps.cell.get();
    if (s.current?.id === id && (s.view === 'chat' || options.background) && !s.messagesLoading) {
      return true;
    }
    const untouched = () => !this.state.current && !this.state.conversation.messages.length && !this.streaming;
    if (options.background) {
      if (!untouched()) {
        return false;
      }
    } else {
      this.stop();
      this.flushDelete();
      this.deps.cell.set({ view: 'chat', notice: null });
    }
    this.set({ messagesLoading: true });
    try {
      const [session, page] = await Promise.all([this.deps.api.session(id), this.deps.api.messages(id)]);
      if (options.background && !untouched()) {
        this.set({ messagesLoading: false });
        return false;
      }
      this.set({ current: session, conversation: loaded(id, page.messages, page.has_more), messagesLoading: false, versions: {} });
      this.watchRemote();
      return true;
    } catch (err) {
      this.set({ messagesLoading: false });
      if (!(options.quiet && err instanceof ApiError && err.status === 404)) {
        this.deps.fail(err, 'Could not open the chat');
      }
      return false;
    }
  }

  async loadOlder(): Promise<void> {
    const conv = this.state.conversation;
    const first = conv.messages.find(m => m.id > 0);
    if (!conv.sessionId || !conv.hasMore || !first) {
      return;
    }
    try {
      const page = await this.deps.api.messages(conv.sessionId, first.id);
      this.set({ conversation: prependOlder(this.state.conversation, page.messages, page.has_more) });
    } catch (err) {
      this.deps.fail(err, 'Could not load older messages');
    }
  }

  /** The list changed a session: follow it when it is the open one. */
  sessionChanged(session: Session): void {
    if (this.state.current?.id === session.id) {
      this.set({ current: session });
    }
  }

  sessionDeleted(id: string): void {
    if (this.state.current?.id === id) {
      this.newChat();
      this.deps.cell.set({ view: 'history' });
    }
  }

  chooseVersion(parentId: number, messageId: number): void {
    this.set({ versions: { ...this.state.versions, [parentId]: messageId } });
  }

  // --- options of the open chat ---------------------------------------------------------------
  private async updateCurrent(fields: Partial<Session>, what: string): Promise<boolean> {
    const current = this.state.current;
    if (!current) {
      return false;
    }
    try {
      const session = await this.deps.api.updateSession(current.id, fields);
      this.sessionChanged(session);
      this.env.saved(session);
      return true;
    } catch (err) {
      this.deps.fail(err, what);
      return false;
    }
  }

  async selectModel(id: string): Promise<void> {
    if (this.state.current) {
      await this.updateCurrent({ model: id || null }, 'Could not change the model');
    } else {
      this.set({ draft: { ...this.state.draft, model: id || null } });
    }
  }

  async saveOptions(systemPrompt: string | null, params: GenerationParams): Promise<void> {
    if (this.state.current) {
      if (await this.updateCurrent({ system_prompt: systemPrompt, params }, 'Could not save the options')) {
        this.deps.cell.set({ notice: { kind: 'info', text: 'Options saved for this chat.' } });
      }
    } else {
      this.set({ draft: { ...this.state.draft, system_prompt: systemPrompt, params } });
      this.deps.cell.set({ notice: { kind: 'info', text: 'Options set for this new chat.' } });
    }
  }

  // --- turns ---------------------------------------------------------------------------------
  private params(): GenerationParams {
    const s = this.state;
    return effectiveParams(this.env.defaults(), s.current ? s.current.params : s.draft.params);
  }

  private async ensureSession(): Promise<Session> {
    const s = this.state;
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
    const session = await this.deps.api.createSession(fields);
    this.set({ current: session });
    this.env.saved(session);
    return session;
  }

  private onEvent = (ev: ChatEvent): void => {
    this.set({ conversation: applyEvent(this.state.conversation, ev) });
    if (ev.type === 'tool_call' || ev.type === 'tool_result') {
      this.env.toolEvent?.(ev);
    }
  };

  /** What a turn that may call tools sends along (absent while the Tools switch is off). */
  private turnBody(): { params: GenerationParams; rag?: RagRequest; tools?: ToolsRequest } {
    const tools = this.env.beginTools?.();
    return { params: this.params(), rag: this.env.rag(), ...(tools ? { tools } : {}) };
  }

  private streamOptions(extra: Partial<StreamOptions> = {}): StreamOptions {
    return {
      onRetry: (info: RetryInfo | null) =>
        this.set({
          retry: info && { attempt: info.attempt, max: info.max, delayS: info.delayS, until: Date.now() + info.delayS * 1000, message: info.message }
        }),
      ...extra
    };
  }

  /** Send a message (the context is already in `content`). Resolves when the answer ends. */
  async send(content: string, context: WireContext[] = []): Promise<void> {
    if (!content.trim() || this.streaming) {
      return;
    }
    let session: Session;
    try {
      session = await this.ensureSession();
    } catch (err) {
      this.deps.fail(err, 'Could not start the chat');
      return;
    }
    let conversation = beginSend({ ...this.state.conversation, sessionId: session.id }, session.id, content);
    if (context.length) {
      // the chips show on the message at once; the server stores the same list (metadata.context)
      const userId = conversation.pendingUserId;
      conversation = { ...conversation, messages: conversation.messages.map(m => (m.id === userId ? { ...m, metadata: { ...m.metadata, context } } : m)) };
    }
    this.set({ conversation });
    this.deps.cell.set({ notice: null });
    const userId = conversation.pendingUserId;
    const answerId = conversation.streamingId;
    const body = { content, ...this.turnBody(), ...(context.length ? { context } : {}) };
    await this.run(this.deps.api.chat(session.id, body, this.onEvent, this.streamOptions()));
    this.takeBackRefused(userId, answerId, content);
  }

  /**
   * A turn the server refused before it began (busy after the retries: 429/503, or a bad
   * request) stored nothing: rather than an error under a question that was never asked, the
   * question goes back to the composer, the reason in a notice (issue 20).
   */
  private takeBackRefused(userId: number | null, answerId: number | null, content: string): void {
    const conv = this.state.conversation;
    const answer = conv.messages.find(m => m.id === answerId);
    const neverStarted = userId !== null && userId < 0 && conv.messages.some(m => m.id === userId);
    if (!neverStarted || !answer || answer.status !== 'error') {
      return;
    }
    const reason = errorText(answer) ?? 'The server refused the message.';
    this.set({ conversation: { ...conv, messages: conv.messages.filter(m => m.id !== userId && m.id !== answerId) } });
    this.deps.cell.set({ composer: content, focusRequest: this.deps.cell.get().focusRequest + 1, notice: { kind: 'error', text: `${reason} Your message is back in the box.` } });
  }

  /** A new answer to the last question; the earlier ones stay as versions (‹ 1/2 ›). */
  async regenerate(): Promise<void> {
    const session = this.state.current;
    if (!session || this.streaming) {
      return;
    }
    const conversation = beginRegenerate(this.state.conversation);
    const answer = conversation.messages.find(m => m.id === conversation.streamingId);
    const versions = { ...this.state.versions };
    if (answer?.parent_id !== null && answer?.parent_id !== undefined) {
      delete versions[answer.parent_id]; // show the new one
    }
    this.set({ conversation, versions });
    this.deps.cell.set({ notice: null });
    await this.run(this.deps.api.regenerate(session.id, this.turnBody(), this.onEvent, this.streamOptions()));
  }

  async editAndResend(messageId: number, content: string): Promise<void> {
    const session = this.state.current;
    if (!session || this.streaming || !content.trim()) {
      return;
    }
    this.set({ conversation: beginEdit(this.state.conversation, messageId, content) });
    this.deps.cell.set({ notice: null });
    const body = { content, ...this.turnBody() };
    await this.run(this.deps.api.editAndResend(session.id, messageId, body, this.onEvent, this.streamOptions()));
  }

  /** Continue an interrupted answer where it stopped. */
  async continueAnswer(messageId: number): Promise<void> {
    const session = this.state.current;
    if (!session || this.streaming || messageId <= 0) {
      return;
    }
    this.set({ conversation: beginContinue(this.state.conversation, messageId) });
    this.deps.cell.set({ notice: null });
    const settling = (err: ApiError, attempt: number) => (err.status === 409 && err.code === 'not_interrupted' && attempt <= SETTLE_TRIES ? SETTLE_MS : null);
    await this.run(this.deps.api.continueAnswer(session.id, messageId, { params: this.params() }, this.onEvent, this.streamOptions({ quietRetry: settling })));
  }

  /**
   * Stop the answer being generated (aborts the request; the server keeps the partial). In an
   * agent turn this ends the loop: the server sees the stream close, open approvals lapse.
   */
  stop(): void {
    this._stream?.abort();
  }

  /**
   * Delete a message with a few seconds to take it back: it leaves the thread at once, a notice
   * offers Undo, and only when that time is up does the server delete it (nothing is dropped
   * from the store before). Opening another chat or deleting another message commits it then.
   */
  deleteMessage(messageId: number): void {
    const session = this.state.current;
    const message = this.state.conversation.messages.find(m => m.id === messageId);
    if (!session || !message) {
      return;
    }
    this.flushDelete();
    this.set({ conversation: removeMessage(this.state.conversation, messageId) });
    if (messageId <= 0) {
      return;
    }
    const timer = setTimeout(() => this.flushDelete(), UNDO_DELETE_MS);
    this._pendingDelete = { sessionId: session.id, message, timer };
    this.deps.cell.set({
      notice: { kind: 'info', text: message.role === 'user' ? 'Question deleted.' : 'Message deleted.', action: { label: 'Undo', run: () => this.undoDelete() } }
    });
  }

  /** Bring back the message deleted last (while its Undo is offered). */
  undoDelete(): void {
    const pending = this._pendingDelete;
    if (!pending) {
      return;
    }
    clearTimeout(pending.timer);
    this._pendingDelete = null;
    if (this.state.current?.id === pending.sessionId) {
      this.set({ conversation: restoreMessage(this.state.conversation, pending.message) });
    }
    this.deps.cell.set({ notice: null });
  }

  /** Carry out the pending delete now (its Undo time is up, or the user moved on). */
  private flushDelete(): void {
    const pending = this._pendingDelete;
    if (!pending) {
      return;
    }
    clearTimeout(pending.timer);
    this._pendingDelete = null;
    if (this.deps.cell.get().notice?.action) {
      this.deps.cell.set({ notice: null });
    }
    this.deps.api.deleteMessage(pending.sessionId, pending.message.id).catch(err => {
      if (this.state.current?.id === pending.sessionId) {
        this.set({ conversation: restoreMessage(this.state.conversation, pending.message) });
      }
      this.deps.fail(err, 'Could not delete the message');
    });
  }

  /** Show another branch of the conversation (‹ i/n › on an edited question). */
  async switchBranch(messageId: number): Promise<void> {
    const session = this.state.current;
    if (!session || this.streaming || messageId <= 0) {
      return;
    }
    this.flushDelete();
    try {
      await this.deps.api.switchBranch(session.id, messageId);
      const page = await this.deps.api.messages(session.id);
      if (this.state.current?.id === session.id && !this.streaming) {
        this.set({ conversation: loaded(session.id, page.messages, page.has_more), versions: {} });
      }
    } catch (err) {
      this.deps.fail(err, 'Could not switch to that branch');
    }
  }

  private async run(handle: StreamHandle): Promise<void> {
    this._stream = handle;
    this.set({ streaming: true });
    const turn = this.state.conversation.turn;
    const answerId = () => this.state.conversation.streamingId;
    let stopped: number | null = null;
    const outcome = await handle.finished;
    if (this._stream === handle) {
      this._stream = null;
    }
    this.env.endTools?.();
    if (outcome === 'aborted' || outcome === 'closed') {
      stopped = answerId();
      this.set({
        conversation: endStream(
          this.state.conversation,
          outcome === 'aborted' ? 'interrupted' : 'error',
          outcome === 'closed' ? 'The stream ended before the answer was complete.' : undefined
        )
      });
    }
    this.set({ streaming: this._stream !== null, retry: null });
    await this.afterTurn(turn, outcome === 'aborted' ? stopped : null);
  }

  /**
   * After a turn: refresh the session (title, counts) and, where this page's picture may differ
   * from the server's, read the latest messages again: after a regenerate (which answers are
   * versions is the server's call) and after a stop (the server keeps what it had generated,
   * which can be a little more than reached this page).
   */
  private async afterTurn(turn: string | null, stoppedId: number | null): Promise<void> {
    const id = this.state.current?.id;
    if (!id) {
      return;
    }
    try {
      this.env.saved(await this.deps.api.session(id));
      if (stoppedId !== null && stoppedId > 0) {
        await this.settled(id, stoppedId);
      }
      if ((turn === 'regenerate' || turn === 'edit' || (stoppedId !== null && stoppedId > 0)) && !this.streaming) {
        await this.reload(id);
      }
    } catch {
      // the list and the thread refresh on the next visit
    }
  }

  /**
   * The server notices a stopped client on its next write and then stores the partial: wait
   * (briefly) until the row is no longer "streaming", so this page does not mistake its own
   * stopped answer for one another client is writing.
   */
  private async settled(sessionId: string, messageId: number): Promise<void> {
    for (let i = 0; i < SETTLE_TRIES; i++) {
      const m = await this.deps.api.message(sessionId, messageId);
      if (!m || m.status !== 'streaming') {
        return;
      }
      await new Promise(r => setTimeout(r, SETTLE_MS));
    }
  }

  private async reload(id: string): Promise<void> {
    const page = await this.deps.api.messages(id);
    if (this.state.current?.id === id && !this.streaming) {
      this.set({ conversation: mergeLatest(this.state.conversation, page.messages) });
      this.watchRemote();
    }
  }

  /**
   * An answer stored as "streaming" that this page is not writing is being written by another
   * client (its checkpoints reach the store about once a second): show it growing until it ends.
   */
  private watchRemote(): void {
    const conv = this.state.conversation;
    const remote = conv.messages.some(m => m.status === 'streaming' && m.id !== conv.streamingId);
    if (!remote || this._watching || !conv.sessionId) {
      return;
    }
    const id = conv.sessionId;
    this._watching = true;
    setTimeout(() => {
      this._watching = false;
      if (this.state.current?.id !== id || this.streaming) {
        return;
      }
      this.reload(id).catch(() => undefined);
    }, REMOTE_POLL_MS);
  }

  dispose(): void {
    this.stop();
    this.flushDelete();
  }

  private _stream: StreamHandle | null = null;
  private _pendingDelete: { sessionId: string; message: Message; timer: ReturnType<typeof setTimeout> } | null = null;
  private _watching = false;
}
