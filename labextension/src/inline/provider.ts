/**
 * Inline completion (ghost text) from the chat server's engine, for notebooks, consoles and
 * file editors: JupyterLab's inline completer calls `fetch` on typing (Tab accepts, its own
 * binding), we stream the completion from `POST chat-ext/inline` (SSE, seams D).
 *
 * Every call of `fetch` aborts the request before it: a new keystroke cancels the completion in
 * flight, and the server cancels the engine request when the client goes. Debounce and limits
 * come from our settings; JupyterLab's own debouncer for this provider defaults to 0.
 *
 * `warm` runs when a code cell gets the cursor: the server evaluates that cell's prompt into the
 * engine's prompt cache, so the first keystroke's request evaluates only what was typed since.
 */
import {
  CompletionHandler,
  IInlineCompletionContext,
  IInlineCompletionItem,
  IInlineCompletionList,
  IInlineCompletionProvider,
  InlineCompletionTriggerKind
} from '@jupyterlab/completer';
import { NotebookPanel } from '@jupyterlab/notebook';

import { ApiError, ChatApi } from '../api';
import { chatIcon } from '../icons';
import { readChatEvents } from '../sse';
import { CompletionFeed } from './feed';
import { assembleEditorPrompt, assemblePrompt, CellSource, clipLines, fitToLine } from './prompt';
import { INLINE_DEFAULTS, InlineSettings } from './settings';

export const INLINE_PROVIDER_ID = 'jupyter-chat-ext:inline';
/** how long completion stays off after the chat server could not be reached */
const QUIET_MS = 30000;
/** a request waits at most this long for the warm request still evaluating its context */
const WARM_WAIT_MS = 3000;

const EXT_LANGUAGE: Record<string, string> = { py: 'python', r: 'r', jl: 'julia', js: 'javascript', ts: 'typescript', sh: 'bash', sql: 'sql', md: 'markdown' };

/** The body of `POST chat-ext/inline`. */
export interface InlineRequest {
  prefix: string;
  suffix: string;
  language: string;
  path?: string;
  max_lines: number;
  model?: string;
  /** evaluate the prompt only (no ghost text) */
  warm?: boolean;
}

export class ChatInlineProvider implements IInlineCompletionProvider {
  readonly identifier = INLINE_PROVIDER_ID;
  readonly name = 'Chat (local model)';
  readonly icon = chatIcon.bindprops({ width: 16 });
  /** JupyterLab's own settings of this provider: our debounce applies, so its debouncer is off. */
  readonly schema = { default: { debouncerDelay: 0, timeout: 10000 } };

  constructor(private readonly api: ChatApi) {}

  settings: InlineSettings = INLINE_DEFAULTS;

  async fetch(request: CompletionHandler.IRequest, context: IInlineCompletionContext): Promise<IInlineCompletionList<IInlineCompletionItem>> {
    const generation = ++this._generation;
    this.cancel();
    const settings = this.settings;
    if (!settings.enabled || Date.now() < this._quietUntil) {
      return { items: [] };
    }
    const widget = context.widget;
    if (widget instanceof NotebookPanel && widget.content.activeCell?.model.type !== 'code') {
      return { items: [] }; // prose in markdown cells is not ours to complete
    }
    if (context.triggerKind === InlineCompletionTriggerKind.Automatic && settings.debounceMs > 0) {
      await new Promise(r => setTimeout(r, settings.debounceMs));
      if (generation !== this._generation) {
        return { items: [] }; // typed on meanwhile: that keystroke's fetch asks instead
      }
    }
    const body = this.requestBody(request, context, settings);
    if (!body.prefix.trim() && !body.suffix.trim()) {
      return { items: [] };
    }
    if (this._warming) {
      // the context is being evaluated for this cell: its cache makes this request quick
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this._warming, new Promise(r => (timer = setTimeout(r, WARM_WAIT_MS)))]);
      clearTimeout(timer);
      if (generation !== this._generation) {
        return { items: [] };
      }
    }
    const token = `chat-ext-${generation}`;
    this._feeds.set(token, this.start(body));
    this._lineRest.set(token, request.text.slice(request.offset).split('\n')[0]);
    return { items: [{ insertText: '', isIncomplete: true, token }] };
  }

  async *stream(token: string): AsyncGenerator<{ response: IInlineCompletionItem }, undefined, unknown> {
    const feed = this._feeds.get(token);
    if (!feed) {
      return;
    }
    const maxLines = this.settings.maxLines;
    const lineRest = this._lineRest.get(token) ?? '';
    try {
      for await (const s of feed.updates()) {
        const text = fitToLine(clipLines(s.text, maxLines), lineRest);
        const item: IInlineCompletionItem = { insertText: text, isIncomplete: !s.done, token: s.done ? undefined : token };
        if (s.error) {
          item.error = { message: s.error };
        }
        yield { response: item };
      }
    } finally {
      this._feeds.delete(token);
      this._lineRest.delete(token);
    }
  }

  /** Abort the completion in flight (a keystroke, or the provider being switched off). */
  cancel(): void {
    this._controller?.abort();
    this._controller = null;
    // feeds never streamed (the completer dropped their item) end here rather than leak
    for (const feed of this._feeds.values()) {
      feed.finish();
    }
    this._feeds.clear();
    this._lineRest.clear();
  }

  /** Prefix and suffix: the cells around the cursor in a notebook, the text around it elsewhere. */
  requestBody(request: CompletionHandler.IRequest, context: IInlineCompletionContext, settings: InlineSettings): InlineRequest {
    const widget = context.widget;
    if (widget instanceof NotebookPanel && widget.content.model) {
      return this.notebookBody(widget, request.text, request.offset, settings);
    }
    const path: string | undefined = (widget as any)?.context?.path;
    const ext = path?.split('.').pop()?.toLowerCase() ?? '';
    const language = EXT_LANGUAGE[ext] ?? (ext || (request.mimeType ?? 'text'));
    const prompt = assembleEditorPrompt(request.text, request.offset, settings.budget);
    return { ...prompt, language, path, max_lines: settings.maxLines, ...(settings.model ? { model: settings.model } : {}) };
  }

  /** The body for the active cell of `panel`, its editor's text `text` with the cursor at `offset`. */
  notebookBody(panel: NotebookPanel, text: string, offset: number, settings: InlineSettings): InlineRequest {
    const model = panel.content.model;
    const meta = model?.sharedModel.getMetadata('language_info') as { name?: string } | undefined;
    const language = meta?.name ?? 'python';
    const cells: CellSource[] = (model?.sharedModel.cells ?? []).map(c => ({
      type: c.cell_type as CellSource['type'],
      source: c.getSource()
    }));
    const prompt = assemblePrompt(cells, panel.content.activeCellIndex, text, offset, language, settings.budget);
    const extra = settings.model ? { model: settings.model } : {};
    return { ...prompt, language, path: panel.context.path, max_lines: settings.maxLines, ...extra };
  }

  /**
   * Evaluate the active cell's prompt (the cursor where it stands) into the engine's prompt cache:
   * called when a code cell gets the cursor. A cold 1k-character context takes ~1 s to evaluate
   * on a laptop CPU; the first keystroke's request then waits for this one and evaluates only
   * what was typed (bench/bench_completion.py --modes focus). Once per distinct prompt.
   */
  warm(panel: NotebookPanel): void {
    const settings = this.settings;
    const cell = panel.content.activeCell;
    if (!settings.enabled || !settings.warm || Date.now() < this._quietUntil || !cell || cell.model.type !== 'code') {
      return;
    }
    const text = cell.model.sharedModel.getSource();
    const editor = cell.editor;
    const offset = editor ? editor.getOffsetAt(editor.getCursorPosition()) : text.length;
    const body: InlineRequest = { ...this.notebookBody(panel, text, offset, settings), warm: true };
    if (!body.prefix.trim() || body.prefix === this._warmedPrefix) {
      return;
    }
    this._warmedPrefix = body.prefix;
    this._warmController?.abort(); // the cursor moved on: only the newest context is worth reading
    const controller = new AbortController();
    this._warmController = controller;
    const done = (async () => {
      try {
        const response = await this.post(body, controller.signal);
        await response.text(); // one done event; what matters is the cache it leaves
      } catch {
        // aborted, or no server: a warm-up is only ever a head start
      } finally {
        if (this._warmController === controller) {
          this._warmController = null;
          this._warming = null;
        }
      }
    })();
    this._warming = done;
  }

  /** `POST chat-ext/inline` (an SSE stream), abortable. */
  private post(body: InlineRequest, signal: AbortSignal): Promise<Response> {
    return this.api.fetch('inline', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      signal
    });
  }

  private start(body: InlineRequest): CompletionFeed {
    const feed = new CompletionFeed();
    const controller = new AbortController();
    this._controller = controller;
    void (async () => {
      try {
        const response = await this.post(body, controller.signal);
        if (!response.body) {
          throw new ApiError(response.status, 'bad_stream', 'The server answered without a stream.');
        }
        await readChatEvents(response.body, ev => {
          if (ev.type === 'token') {
            feed.append(ev.text);
          } else if (ev.type === 'done') {
            feed.finish(typeof ev.text === 'string' ? ev.text : undefined);
          } else if (ev.type === 'error') {
            feed.finish(undefined, ev.message);
          }
        });
        feed.finish();
      } catch (err) {
        if (controller.signal.aborted) {
          feed.finish(); // a keystroke cancelled it (the lab reports the abort as a network error)
          return;
        }
        if (err instanceof ApiError && (err.missing || err.offline)) {
          // no chat server (yet): stay quiet a while rather than flag every keystroke
          this._quietUntil = Date.now() + QUIET_MS;
          feed.finish('');
          return;
        }
        feed.finish(undefined, String((err as Error)?.message ?? err));
      } finally {
        if (this._controller === controller) {
          this._controller = null;
        }
      }
    })();
    return feed;
  }

  private _generation = 0;
  private _warming: Promise<void> | null = null;
  private _warmController: AbortController | null = null;
  private _warmedPrefix = '';
  private _quietUntil = 0;
  private _controller: AbortController | null = null;
  private _feeds = new Map<string, CompletionFeed>();
  /** per token: the text after the cursor on its line */
  private _lineRest = new Map<string, string>();
}
