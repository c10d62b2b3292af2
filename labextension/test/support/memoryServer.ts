/**
 * An in-memory stand-in for the chat server's HTTP API, with the documented semantics (ids,
 * 404s, answer versions, continue, stop keeps the partial), for unit tests of the client store.
 * The real server is exercised by the browser tests (tests/browser).
 */
import { ApiError, StreamHandle, StreamOptions, ToolReply } from '../../src/api';
import type { StoreApi } from '../../src/store';
import { ChatEvent, Collection, GenerationParams, IngestJob, Message, ModelInfo, Session, ToolsRequest } from '../../src/types';

/** A call the stand-in model makes in the first step of a turn that has `tools`. */
export interface ScriptedCall {
  name: string;
  arguments: string;
  effect: 'read' | 'write' | 'execute';
  executor: 'server' | 'client';
  approval: 'required' | 'auto';
  /** a write/execute tool the server's allow-list names */
  allowed?: boolean;
  /** the server refuses the call itself (bad arguments): this error is its result, at once */
  refused?: string;
}

const tick = () => new Promise(r => setTimeout(r, 0));

export class MemoryServer implements StoreApi {
  sessionsById = new Map<string, Session>();
  stored: Message[] = [];
  calls: string[] = [];
  /** what each answer says, one token per word */
  reply = 'one two three';
  /** refuse the next turns with 429 + Retry-After (count) */
  refuse = 0;
  /** refuse every turn for good (503 after the retries): an error before any start event */
  refuseForGood = false;
  /** agent turns: the calls of the first step (only when the chat body has `tools`) */
  toolScript: ScriptedCall[] = [];
  /** the `tools` of the last chat body, and the replies to tool calls, in order */
  lastTools: ToolsRequest | undefined;
  replies: { callId: string; reply: ToolReply }[] = [];
  private waiting = new Map<string, (reply: ToolReply) => void>();
  private nextCall = 1;
  private nextMessage = 1;
  private nextSession = 1;
  models_: ModelInfo[] = [{ id: 'tiny', kind: 'chat', source: 'packaged', format: 'gguf', state: 'unloaded' }];
  collections_: Collection[] = [];

  async health() {
    return { status: 'ok', version: 'test', uptime_s: 0, engine: { default_model: 'tiny' } };
  }

  // sessions ------------------------------------------------------------------------------------
  private get(id: string): Session {
    const s = this.sessionsById.get(id);
    if (!s) {
      throw new ApiError(404, 'session_not_found', `No session ${id}`);
    }
    return s;
  }
  async sessions(q = '') {
    const all = [...this.sessionsById.values()].filter(s => !q || (s.title ?? '').includes(q));
    return { sessions: all, total: all.length };
  }
  async createSession(fields: Partial<Session>) {
    const id = `s${this.nextSession++}`;
    const s: Session = {
      id,
      title: null,
      model: null,
      system_prompt: null,
      params: {},
      pinned: false,
      created_at: '2026-12-01T00:00:00Z',
      updated_at: '2026-12-01T00:00:00Z',
      message_count: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      ...fields
    };
    this.sessionsById.set(id, s);
    return s;
  }
  async session(id: string) {
    return { ...this.get(id), message_count: this.stored.filter(m => m.session_id === id).length };
  }
  async updateSession(id: string, fields: Partial<Session>) {
    const s = { ...this.get(id), ...fields };
    this.sessionsById.set(id, s);
    return s;
  }
  async deleteSession(id: string) {
    this.get(id);
    this.sessionsById.delete(id);
    this.stored = this.stored.filter(m => m.session_id !== id);
  }
  async messages(id: string, before?: number, limit = 100) {
    this.get(id);
    const all = this.stored.filter(m => m.session_id === id && (before === undefined || m.id < before));
    return { messages: all.slice(-limit).map(m => ({ ...m })), has_more: all.length > limit };
  }
  async message(sessionId: string, id: number) {
    return (await this.messages(sessionId, id + 1, 1)).messages.find(m => m.id === id) ?? null;
  }
  async deleteMessage(sessionId: string, id: number) {
    this.stored = this.stored.filter(m => m.id !== id);
  }
  async switchBranch(_sessionId: string, messageId: number) {
    this.switched.push(messageId);
    return { head_id: messageId };
  }
  /** the questions switchBranch was called with (this fake keeps one thread) */
  switched: number[] = [];
  async exportSession(id: string) {
    return { text: JSON.stringify({ session: this.get(id) }), filename: `${id}.json` };
  }
  async importSession(data: unknown) {
    const d = data as { session?: Partial<Session> };
    return this.createSession({ title: d.session?.title ?? 'imported' });
  }

  // catalog -------------------------------------------------------------------------------------
  async models() {
    return this.models_.map(m => ({ ...m }));
  }
  async model(id: string) {
    const m = this.models_.find(x => x.id === id);
    if (!m) {
      throw new ApiError(404, 'model_not_found', id);
    }
    if (m.state === 'loading') {
      m.progress = (m.progress ?? 0) + 0.5;
      if (m.progress >= 1) {
        Object.assign(m, { state: 'loaded', device: 'cpu' });
      }
    }
    return { ...m };
  }
  async loadModel(id: string) {
    const m = this.models_.find(x => x.id === id)!;
    Object.assign(m, { state: 'loading', progress: 0 });
    return { ...m };
  }
  async unloadModel(id: string) {
    const m = this.models_.find(x => x.id === id)!;
    Object.assign(m, { state: 'unloaded' });
    return { ...m };
  }
  async collections() {
    return [...this.collections_];
  }
  async createCollection(name: string) {
    if (this.collections_.some(c => c.name === name)) {
      throw new ApiError(409, 'collection_exists', `${name} exists`);
    }
    const c = { name, documents: 0, chunks: 0, size_bytes: 0, embedding_model: 'tiny-embed' };
    this.collections_.push(c);
    return c;
  }
  async deleteCollection(name: string) {
    this.collections_ = this.collections_.filter(c => c.name !== name);
  }
  private jobs = new Map<string, IngestJob>();
  async addDocuments(name: string, paths: string[]) {
    const job: IngestJob = { id: 'j1', kind: 'ingest', actions: ['cancel'], collection: name, state: 'running', files_total: paths.length, files_done: 0, chunks: 0, embedded: 0, skipped: [] };
    this.jobs.set(job.id, job);
    return { ...job };
  }
  async job(id: string) {
    const j = this.jobs.get(id)!;
    Object.assign(j, { state: 'done', files_done: j.files_total, chunks: 3 });
    const c = this.collections_.find(x => x.name === j.collection);
    if (c) {
      c.documents = j.files_total;
    }
    return { ...j };
  }

  // turns ---------------------------------------------------------------------------------------
  private add(sessionId: string, role: Message['role'], content: string, parent: number | null, status: Message['status'] = 'complete'): Message {
    const m: Message = {
      id: this.nextMessage++,
      session_id: sessionId,
      role,
      content,
      model: role === 'assistant' ? 'tiny' : null,
      params: {},
      parent_id: parent,
      status,
      metadata: {},
      created_at: '2026-12-01T00:00:00Z',
      metrics: null
    };
    this.stored.push(m);
    return m;
  }

  /** The reply route: 404 for a call nobody waits for (unknown, or the turn is over). */
  async replyToolCall(callId: string, reply: ToolReply) {
    const resolve = this.waiting.get(callId);
    if (!resolve) {
      throw new ApiError(404, 'tool_call_not_found', `No pending tool call ${callId}`);
    }
    if (reply.token !== `secret-${callId}`) {
      throw new ApiError(403, 'approval_token_mismatch', `tool call ${callId} needs the token of its stream`);
    }
    this.waiting.delete(callId);
    this.replies.push({ callId, reply });
    resolve(reply);
    return { call_id: callId, decision: reply.decision };
  }

  /**
   * The agent loop as the server runs it (seams C): the answer row calls the scripted tools,
   * waits for the replies it needs, stores each result as a "tool" row, then a step row answers.
   * Returns the row the final text streams into, or null when the client went away.
   */
  private async agentStep(answer: Message, onEvent: (ev: ChatEvent) => void, aborted: () => boolean): Promise<Message | null> {
    const calls = this.toolScript.map(c => ({ ...c, id: `call_${this.nextCall++}` }));
    answer.metadata = { ...answer.metadata, tool_calls: calls.map(c => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) };
    answer.status = 'complete';
    for (const c of calls) {
      const waits = !c.refused && (c.approval === 'required' || c.executor === 'client');
      const token = waits ? `secret-${c.id}` : undefined; // the server's per-call approval_token
      onEvent({ type: 'tool_call', message_id: answer.id, call_id: c.id, name: c.name, arguments: c.arguments, source: c.executor === 'client' ? 'notebook' : 'builtin', effect: c.effect, approval: c.approval, allowed: !!c.allowed, executor: c.executor, ...(token ? { approval_token: token } : {}) });
      let reply: ToolReply | null = null;
      if (!c.refused && (c.approval === 'required' || c.executor === 'client')) {
        const got = new Promise<ToolReply>(resolve => this.waiting.set(c.id, resolve));
        while (!reply) {
          reply = await Promise.race([got, tick().then(() => null)]);
          if (aborted()) {
            this.waiting.delete(c.id);
            return null;
          }
        }
      }
      const denied = reply?.decision === 'deny';
      const content = c.refused ?? (denied ? 'The user denied this call.' : (reply?.result?.content ?? `server ran ${c.name}`));
      const approval = c.approval === 'auto' ? 'auto' : denied ? 'denied' : reply?.decision === 'always' ? 'always' : 'approved';
      const row = this.add(answer.session_id, 'tool', content, answer.id);
      row.metadata = { tool_call_id: c.id, name: c.name, arguments: c.arguments, is_error: denied || !!c.refused || !!reply?.result?.is_error, approval };
      onEvent({ type: 'tool_result', message_id: row.id, call_id: c.id, name: c.name, content, is_error: row.metadata.is_error as boolean, approval });
    }
    // as the server does: the next step's parent is the step before (so steps are no versions)
    const next = this.add(answer.session_id, 'assistant', '', answer.id, 'streaming');
    onEvent({ type: 'step', index: 1, assistant_message_id: next.id });
    return next;
  }

  /** Stream `reply` into `answer`, one word per tick; abort stores the partial as interrupted. */
  private stream(userId: number, answer: Message, onEvent: (ev: ChatEvent) => void, options?: StreamOptions, tools?: ToolsRequest): StreamHandle {
    let aborted = false;
    const finished = (async () => {
      await tick();
      if (this.refuseForGood) {
        onEvent({ type: 'error', code: 'busy', status: 503, message: 'The server is busy.' });
        return 'error' as const;
      }
      while (this.refuse > 0) {
        this.refuse--;
        options?.onRetry?.({ attempt: 1, max: 3, delayS: 0, code: 'busy', message: 'busy' });
        await tick();
      }
      onEvent({ type: 'start', session_id: answer.session_id, user_message_id: userId, assistant_message_id: answer.id, model: 'tiny' });
      if (tools && this.toolScript.length) {
        const next = await this.agentStep(answer, onEvent, () => aborted);
        if (!next) {
          return 'aborted' as const;
        }
        answer = next;
      }
      for (const word of this.reply.split(' ')) {
        await tick();
        if (aborted) {
          answer.status = 'interrupted';
          return 'aborted' as const;
        }
        const text = answer.content ? ` ${word}` : word;
        answer.content += text;
        onEvent({ type: 'token', text });
      }
      answer.status = 'complete';
      onEvent({ type: 'done', message_id: answer.id, status: 'complete', finish_reason: 'stop', text: answer.content });
      return 'done' as const;
    })();
    return { finished, abort: () => (aborted = true) };
  }

  chat(sessionId: string, body: { content: string; params?: GenerationParams; tools?: ToolsRequest }, onEvent: (ev: ChatEvent) => void, options?: StreamOptions): StreamHandle {
    this.calls.push(`chat ${body.content}`);
    this.lastTools = body.tools;
    const user = this.add(sessionId, 'user', body.content, null);
    return this.stream(user.id, this.add(sessionId, 'assistant', '', user.id, 'streaming'), onEvent, options, body.tools);
  }
  regenerate(sessionId: string, _body: unknown, onEvent: (ev: ChatEvent) => void, options?: StreamOptions): StreamHandle {
    this.calls.push('regenerate');
    const user = [...this.stored].reverse().find(m => m.session_id === sessionId && m.role === 'user')!;
    // earlier answers to this message stay (versions); anything else after it goes
    this.stored = this.stored.filter(m => m.id <= user.id || m.session_id !== sessionId || m.parent_id === user.id);
    return this.stream(user.id, this.add(sessionId, 'assistant', '', user.id, 'streaming'), onEvent, options);
  }
  editAndResend(sessionId: string, messageId: number, body: { content: string }, onEvent: (ev: ChatEvent) => void): StreamHandle {
    this.calls.push(`edit ${messageId}`);
    this.stored = this.stored.filter(m => m.session_id !== sessionId || m.id <= messageId);
    this.stored.find(m => m.id === messageId)!.content = body.content;
    return this.stream(messageId, this.add(sessionId, 'assistant', '', messageId, 'streaming'), onEvent);
  }
  continueAnswer(sessionId: string, messageId: number, _body: unknown, onEvent: (ev: ChatEvent) => void): StreamHandle {
    this.calls.push(`continue ${messageId}`);
    const answer = this.stored.find(m => m.id === messageId)!;
    if (answer.status !== 'interrupted') {
      onEvent({ type: 'error', code: 'not_interrupted', message: 'not interrupted', status: 409 });
      return { finished: Promise.resolve('error'), abort: () => undefined };
    }
    answer.status = 'streaming';
    return this.stream(answer.parent_id ?? 0, answer, onEvent);
  }
}
