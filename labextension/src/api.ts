/**
 * The HTTP client of the chat server extension (`<base_url>chat-ext/...`).
 *
 * Every request goes through `ServerConnection.makeRequest`, which adds the token and the XSRF
 * header. JSON errors `{"error": {"code", "message"}}` become {@link ApiError}s.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { BodyTooLarge, checkedJson } from './bodySize';
import { MAX_RETRIES, parseRetryAfter, retryDelay, sleep } from './retry';
import { WireContext } from './context/items';
import { readChatEvents } from './sse';
import {
  ChatEvent,
  Collection,
  GenerationParams,
  Health,
  IngestJob,
  Message,
  ModelInfo,
  RagRequest,
  Session,
  ToolsRequest
} from './types';

export const API_NAMESPACE = 'chat-ext';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** seconds from the `Retry-After` header of a refusal (429/503), else null */
    readonly retryAfterS: number | null = null
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The server answered, but the extension's routes are not there. */
  get missing(): boolean {
    return this.status === 404 && this.code === 'not_found_route';
  }

  /** No answer at all (server down, network gone). */
  get offline(): boolean {
    return this.status === 0;
  }
}

/** A body refused by the size check as the server would refuse it (413 too_large). */
function tooLarge(err: BodyTooLarge): ApiError;
function tooLarge(err: unknown): unknown;
function tooLarge(err: unknown): unknown {
  return err instanceof BodyTooLarge ? new ApiError(413, 'too_large', err.message) : err;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && typeof body === 'object' && body.error) {
        code = String(body.error.code ?? code);
        message = String(body.error.message ?? message);
      } else if (body && typeof body.message === 'string') {
        message = body.message;
      }
    } catch {
      if (response.status === 404) {
        code = 'not_found_route';
      }
    }
  } catch {
    // body unreadable: keep the status line
  }
  return new ApiError(response.status, code, message, parseRetryAfter(response.headers.get('Retry-After')));
}

export interface StreamHandle {
  /** resolves when the stream ends (done, error event, or abort) */
  finished: Promise<'done' | 'error' | 'aborted' | 'closed'>;
  abort(): void;
}

/** A refused turn about to be tried again (null: the next try has started). */
export interface RetryInfo {
  attempt: number;
  max: number;
  delayS: number;
  code: string;
  message: string;
}

export interface StreamOptions {
  onRetry?: (info: RetryInfo | null) => void;
  /**
   * Extra refusals worth a quiet retry, as milliseconds to wait (null: no). Continue uses it for
   * the 409 of an answer the server is still saving as stopped.
   */
  quietRetry?: (err: ApiError, attempt: number) => number | null;
}

type TurnBody = { params?: GenerationParams; rag?: RagRequest; tools?: ToolsRequest; context?: WireContext[] };

/** The user's answer to a tool call (seams C); `result` when this page ran the tool. */
export interface ToolReply {
  decision: 'approve' | 'always' | 'deny';
  result: { content: string; is_error: boolean } | null;
  /** the `approval_token` of the call's tool_call event (the server refuses a reply without it) */
  token?: string;
}

export class ChatApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  url(path: string, query?: Record<string, string | number | undefined | null>): string {
    const base = URLExt.join(this.settings.baseUrl, API_NAMESPACE, path);
    if (!query) {
      return base;
    }
    const q: Record<string, string> = {};
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') {
        q[k] = String(v);
      }
    }
    const qs = URLExt.objectToQueryString(q);
    return qs && qs !== '?' ? base + qs : base;
  }

  async fetch(path: string, init: RequestInit = {}, query?: Record<string, string | number | undefined | null>): Promise<Response> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(this.url(path, query), init, this.settings);
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') {
        throw err;
      }
      throw new ApiError(0, 'offline', `Cannot reach the Jupyter server (${(err as Error)?.message ?? err}).`);
    }
    if (!response.ok) {
      throw await errorFrom(response);
    }
    return response;
  }

  async json<T>(path: string, init: RequestInit = {}, query?: Record<string, string | number | undefined | null>): Promise<T> {
    const response = await this.fetch(path, init, query);
    if (response.status === 204) {
      return undefined as T;
    }
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private send<T>(path: string, method: string, body?: unknown): Promise<T> {
    let text: string | undefined;
    try {
      text = body === undefined ? undefined : checkedJson(body); // 413 before a byte is sent
    } catch (err) {
      return Promise.reject(tooLarge(err));
    }
    return this.json<T>(path, {
      method,
      body: text,
      headers: body === undefined ? undefined : { 'Content-Type': 'application/json' }
    });
  }

  health(): Promise<Health> {
    return this.json<Health>('health');
  }

  // models
  async models(): Promise<ModelInfo[]> {
    return (await this.json<{ models: ModelInfo[] }>('models')).models;
  }
  model(id: string): Promise<ModelInfo> {
    return this.json<ModelInfo>(`models/${encodeURIComponent(id)}`);
  }
  loadModel(id: string): Promise<ModelInfo> {
    return this.send<ModelInfo>(`models/${encodeURIComponent(id)}/load`, 'POST');
  }
  unloadModel(id: string): Promise<ModelInfo> {
    return this.send<ModelInfo>(`models/${encodeURIComponent(id)}/unload`, 'POST');
  }

  // sessions
  sessions(q = '', limit = 100, offset = 0): Promise<{ sessions: Session[]; total: number }> {
    return this.json('sessions', {}, { q, limit, offset });
  }
  createSession(fields: { title?: string; model?: string; system_prompt?: string; params?: GenerationParams }): Promise<Session> {
    return this.send<Session>('sessions', 'POST', fields);
  }
  session(id: string): Promise<Session> {
    return this.json<Session>(`sessions/${id}`);
  }
  updateSession(
    id: string,
    fields: Partial<Pick<Session, 'title' | 'model' | 'system_prompt' | 'params' | 'pinned'>>
  ): Promise<Session> {
    return this.send<Session>(`sessions/${id}`, 'PATCH', fields);
  }
  deleteSession(id: string): Promise<void> {
    return this.send<void>(`sessions/${id}`, 'DELETE');
  }
  messages(id: string, before?: number, limit = 100): Promise<{ messages: Message[]; has_more: boolean }> {
    return this.json(`sessions/${id}/messages`, {}, { before, limit });
  }
  /** One message, through the `before=` page (there is no GET of a single message). */
  async message(sessionId: string, messageId: number): Promise<Message | null> {
    const page = await this.messages(sessionId, messageId + 1, 1);
    const m = page.messages[page.messages.length - 1];
    return m && m.id === messageId ? m : null;
  }
  deleteMessage(sessionId: string, messageId: number): Promise<void> {
    return this.send<void>(`sessions/${sessionId}/messages/${messageId}`, 'DELETE');
  }
  /** Show the branch of user message `messageId` (an edit of its turn); the listing follows it. */
  switchBranch(sessionId: string, messageId: number): Promise<{ head_id: number }> {
    return this.send<{ head_id: number }>(`sessions/${sessionId}/messages/${messageId}/branch`, 'POST');
  }
  async exportSession(id: string, format: 'markdown' | 'json'): Promise<{ text: string; filename: string }> {
    const response = await this.fetch(`sessions/${id}/export`, {}, { format });
    const disposition = response.headers.get('Content-Disposition') ?? '';
    const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    const filename = match ? decodeURIComponent(match[1]) : `chat-${id}.${format === 'json' ? 'json' : 'md'}`;
    return { text: await response.text(), filename };
  }
  importSession(data: unknown): Promise<Session> {
    return this.send<Session>('sessions/import', 'POST', data);
  }

  // turns (SSE)
  chat(sessionId: string, body: TurnBody & { content: string }, onEvent: (ev: ChatEvent) => void, options?: StreamOptions): StreamHandle {
    return this.stream(`sessions/${sessionId}/chat`, 'POST', body, onEvent, options);
  }
  regenerate(sessionId: string, body: TurnBody, onEvent: (ev: ChatEvent) => void, options?: StreamOptions): StreamHandle {
    return this.stream(`sessions/${sessionId}/regenerate`, 'POST', body, onEvent, options);
  }
  editAndResend(
    sessionId: string,
    messageId: number,
    body: TurnBody & { content: string },
    onEvent: (ev: ChatEvent) => void,
    options?: StreamOptions
  ): StreamHandle {
    return this.stream(`sessions/${sessionId}/messages/${messageId}`, 'PATCH', { ...body, resend: true }, onEvent, options);
  }
  /** Continue an interrupted answer: the new text is appended to message `messageId`. */
  continueAnswer(
    sessionId: string,
    messageId: number,
    body: { params?: GenerationParams },
    onEvent: (ev: ChatEvent) => void,
    options?: StreamOptions
  ): StreamHandle {
    return this.stream(`sessions/${sessionId}/messages/${messageId}/continue`, 'POST', body, onEvent, options);
  }

  /**
   * POST/PATCH a body and read the answer as an event stream. The handle's `abort()` cancels the
   * fetch (or the wait before a retry); the server sees the client go and stores the partial
   * answer as "interrupted". A refusal before the stream starts (429/503 with Retry-After) is
   * tried again with backoff ({@link retryDelay}); `onRetry` tells the page how long it waits.
   */
  stream(path: string, method: string, body: unknown, onEvent: (ev: ChatEvent) => void, options: StreamOptions = {}): StreamHandle {
    const controller = new AbortController();
    let ended: 'done' | 'error' | null = null;
    const relay = (ev: ChatEvent) => {
      if (ev.type === 'done') {
        ended = 'done';
      } else if (ev.type === 'error') {
        ended = 'error';
      }
      onEvent(ev);
    };
    const finished = (async (): Promise<'done' | 'error' | 'aborted' | 'closed'> => {
      try {
        const response = await this.fetchWithRetry(
          path,
          {
            method,
            body: checkedJson(body), // an oversized turn fails here, before a byte is sent
            headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
            signal: controller.signal
          },
          options
        );
        if (!response.body) {
          throw new ApiError(response.status, 'bad_stream', 'The server answered without a stream.');
        }
        await readChatEvents(response.body, relay);
        return ended ?? 'closed';
      } catch (err) {
        if (controller.signal.aborted || (err as Error)?.name === 'AbortError') {
          return ended ?? 'aborted';
        }
        if (ended) {
          return ended;
        }
        const e = err instanceof ApiError ? err : err instanceof BodyTooLarge ? tooLarge(err) : new ApiError(0, 'stream', String((err as Error)?.message ?? err));
        relay({ type: 'error', code: e.code, message: e.message });
        return 'error';
      }
    })();
    return { finished, abort: () => controller.abort() };
  }

  private async fetchWithRetry(path: string, init: RequestInit, options: StreamOptions): Promise<Response> {
    let busy = 0;
    let quiet = 0;
    for (;;) {
      try {
        const response = await this.fetch(path, init);
        if (busy) {
          options.onRetry?.(null);
        }
        return response;
      } catch (err) {
        if (!(err instanceof ApiError)) {
          throw err;
        }
        const quietMs = options.quietRetry?.(err, quiet + 1) ?? null;
        if (quietMs !== null) {
          quiet++;
          await sleep(quietMs, init.signal ?? undefined);
          continue;
        }
        const delayS = retryDelay(err.status, err.retryAfterS, busy + 1);
        if (delayS === null) {
          if (busy) {
            options.onRetry?.(null);
          }
          throw err;
        }
        busy++;
        options.onRetry?.({ attempt: busy, max: MAX_RETRIES, delayS, code: err.code, message: err.message });
        await sleep(delayS * 1000, init.signal ?? undefined);
      }
    }
  }

  /** Answer a tool call of a streaming agent turn (404: unknown or finished, 409: decided). */
  replyToolCall(callId: string, reply: ToolReply): Promise<unknown> {
    return this.send<unknown>(`tool-calls/${encodeURIComponent(callId)}`, 'POST', reply);
  }

  // collections (RAG)
  async collections(): Promise<Collection[]> {
    return (await this.json<{ collections: Collection[] }>('collections')).collections;
  }
  createCollection(name: string): Promise<Collection> {
    return this.send<Collection>('collections', 'POST', { name });
  }
  deleteCollection(name: string): Promise<void> {
    return this.send<void>(`collections/${encodeURIComponent(name)}`, 'DELETE');
  }
  addDocuments(name: string, paths: string[]): Promise<IngestJob> {
    return this.send<IngestJob>(`collections/${encodeURIComponent(name)}/documents`, 'POST', { paths });
  }
  job(id: string): Promise<IngestJob> {
    return this.json<IngestJob>(`jobs/${encodeURIComponent(id)}`);
  }
}
