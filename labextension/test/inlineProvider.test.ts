
import { ApiError, ChatApi } from '../src/api';
import { ChatInlineProvider } from '../src/inline/provider';
import { INLINE_DEFAULTS } from '../src/inline/settings';

// JupyterLab's packages are ES modules jest does not load: the two values the provider uses.
jest.mock('@jupyterlab/completer', () => ({ InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 } }));
jest.mock('@jupyterlab/notebook', () => ({ NotebookPanel: class NotebookPanel {} }));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { NotebookPanel: MockPanel } = require('@jupyterlab/notebook');
jest.mock('../src/icons', () => ({ chatIcon: { bindprops: () => ({}) } }));
const InlineCompletionTriggerKind = { Invoke: 0, Automatic: 1 } as const;

// Streaming mechanics only: a scripted event stream stands in for the server's SSE route.
function sse(events: Record<string, unknown>[], signal?: AbortSignal, gapMs = 5): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const e of events) {
        if (signal?.aborted) {
          controller.error(Object.assign(new Error('aborted'), { name: 'AbortError' }));
          return;
        }
        controller.enqueue(enc.encode(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`));
        await new Promise(r => setTimeout(r, gapMs));
      }
      controller.close();
    }
  });
  return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
}

class ScriptedApi {
  bodies: Record<string, unknown>[] = [];
  signals: AbortSignal[] = [];
  constructor(private readonly answer: (n: number, signal: AbortSignal) => Promise<Response>) {}
  async fetch(path: string, init: RequestInit): Promise<Response> {
    expect(path).toBe('inline');
    this.bodies.push(JSON.parse(String(init.body)));
    this.signals.push(init.signal!);
    return this.answer(this.bodies.length, init.signal!);
  }
}

const request = { text: 'def f(x):\n    return ', offset: 21 };
const context = { widget: {} as any, triggerKind: InlineCompletionTriggerKind.Invoke as any };

async function collect(provider: ChatInlineProvider, token: string): Promise<{ text: string; incomplete: boolean; error?: string }[]> {
  const out = [];
  for await (const { response } of provider.stream(token)) {
    out.push({ text: response.insertText, incomplete: !!response.isIncomplete, error: response.error?.message });
  }
  return out;
}

describe('inline provider', () => {
  it('streams the growing text, then the server’s clean completion', async () => {
    const api = new ScriptedApi(async (_n, signal) =>
      sse([{ type: 'token', text: 'x ' }, { type: 'token', text: '* 2\n```' }, { type: 'done', text: 'x * 2' }], signal)
    );
    const provider = new ChatInlineProvider(api as unknown as ChatApi);
    provider.settings = { ...INLINE_DEFAULTS, maxLines: 3 };
    const list = await provider.fetch(request, context);
    expect(list.items).toHaveLength(1);
    const item = list.items[0];
    expect(item).toMatchObject({ insertText: '', isIncomplete: true });
    const updates = await collect(provider, item.token!);
    expect(updates[updates.length - 1]).toEqual({ text: 'x * 2', incomplete: false, error: undefined });
    expect(updates.some(u => u.incomplete && u.text.startsWith('x'))).toBe(true);
    expect(api.bodies[0]).toEqual({ prefix: 'def f(x):\n    return ', suffix: '', language: 'text', max_lines: 3 });
  });

  it('a new request aborts the one in flight; a disabled provider asks nothing', async () => {
    // aborted the way the lab reports it: as an "offline" error (ServerConnection.NetworkError)
    const api = new ScriptedApi(async (_n, signal) => {
      const response = sse(Array.from({ length: 50 }, () => ({ type: 'token', text: 'a' })), undefined, 20);
      return new Response(
        response.body!.pipeThrough(
          new TransformStream({
            transform: (chunk, c) => (signal.aborted ? c.error(new ApiError(0, 'offline', 'Failed to fetch')) : c.enqueue(chunk))
          })
        )
      );
    });
    const provider = new ChatInlineProvider(api as unknown as ChatApi);
    const first = await provider.fetch(request, context);
    const streaming = collect(provider, first.items[0].token!);
    await new Promise(r => setTimeout(r, 50));
    await provider.fetch(request, context);
    expect(api.signals[0].aborted).toBe(true);
    expect(api.signals[1].aborted).toBe(false);
    const updates = await streaming;
    expect(updates[updates.length - 1].incomplete).toBe(false);
    expect(updates[updates.length - 1].error).toBeUndefined(); // cancelled quietly
    // ...which is not taken for a missing server: the next request goes out
    provider.cancel();
    await new Promise(r => setTimeout(r, 100)); // the aborted stream has failed by now
    expect((await provider.fetch(request, context)).items).toHaveLength(1);
    expect(api.bodies).toHaveLength(3);
    provider.cancel();
    provider.settings = { ...INLINE_DEFAULTS, enabled: false };
    expect((await provider.fetch(request, context)).items).toEqual([]);
    expect(api.bodies).toHaveLength(3);
  });

  it('debounces typing, and stays quiet for a while when the chat server is missing', async () => {
    const api = new ScriptedApi(async () => {
      throw new ApiError(404, 'not_found_route', 'Not Found');
    });
    const provider = new ChatInlineProvider(api as unknown as ChatApi);
    provider.settings = { ...INLINE_DEFAULTS, debounceMs: 30 };
    const typing = { ...context, triggerKind: InlineCompletionTriggerKind.Automatic as any };
    const [a, b] = await Promise.all([provider.fetch(request, typing), provider.fetch(request, typing)]);
    expect(a.items).toEqual([]); // superseded by the next keystroke before its delay ran out
    expect(b.items).toHaveLength(1);
    const got = await collect(provider, b.items[0].token!);
    expect(got[got.length - 1]).toEqual({ text: '', incomplete: false, error: undefined });
    expect((await provider.fetch(request, typing)).items).toEqual([]);
    expect(api.bodies).toHaveLength(1);
  });

  it('warms the active cell once, and the first keystroke waits for it', async () => {
    const order: string[] = [];
    const api = new ScriptedApi(async n => {
      const body = api.bodies[n - 1];
      order.push(body.warm ? 'warm sent' : 'completion sent');
      if (body.warm) {
        await new Promise(r => setTimeout(r, 80)); // evaluating the context
        order.push('warm done');
        return sse([{ type: 'done', text: '', finish_reason: 'warm' }]);
      }
      return sse([{ type: 'done', text: '1' }]);
    });
    const provider = new ChatInlineProvider(api as unknown as ChatApi);
    const source = 'total = ';
    const cells = [
      { cell_type: 'code', getSource: () => 'import math' },
      { cell_type: 'code', getSource: () => source }
    ];
    const panel = Object.assign(new MockPanel(), {
      context: { path: 'work/a.ipynb' },
      content: {
        activeCellIndex: 1,
        activeCell: {
          model: { type: 'code', sharedModel: { getSource: () => source } },
          editor: { getCursorPosition: () => ({ line: 0, column: 8 }), getOffsetAt: () => 8 }
        },
        model: { sharedModel: { cells, getMetadata: () => ({ name: 'python' }) } }
      }
    });
    provider.warm(panel);
    provider.warm(panel); // the same context: asked once
    const list = await provider.fetch({ text: source + '1', offset: 9 }, { ...context, widget: panel });
    expect(api.bodies[0]).toEqual({
      prefix: 'import math\n\ntotal = ',
      suffix: '',
      language: 'python',
      path: 'work/a.ipynb',
      max_lines: 4,
      warm: true
    });
    await collect(provider, list.items[0].token!);
    expect(order).toEqual(['warm sent', 'warm done', 'completion sent']);
    expect(api.bodies[1]).toMatchObject({ prefix: 'import math\n\ntotal = 1' });
    expect(api.bodies[1].warm).toBeUndefined();
    provider.settings = { ...INLINE_DEFAULTS, warm: false };
    panel.content.activeCellIndex = 0;
    provider.warm(panel);
    expect(api.bodies).toHaveLength(2); // switched off in the settings
  });
});
