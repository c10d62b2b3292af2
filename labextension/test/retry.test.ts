import { ServerConnection } from '@jupyterlab/services';

import { ApiError, ChatApi, RetryInfo } from '../src/api';
import { MAX_DELAY_S, MAX_RETRIES, parseRetryAfter, retryDelay, sleep } from '../src/retry';
import { ChatEvent } from '../src/types';

describe('Retry-After', () => {
  it('reads seconds and HTTP dates, ignores junk', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(' 1.5 ')).toBe(1.5);
    const now = Date.parse('2026-12-01T10:00:00Z');
    expect(parseRetryAfter('Tue, 01 Dec 2026 10:00:05 GMT', now)).toBe(5);
    expect(parseRetryAfter('Tue, 01 Dec 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });

  it('backs off from what the server asked, up to a cap and a number of tries', () => {
    expect(retryDelay(429, 1, 1)).toBe(1);
    expect(retryDelay(429, 1, 2)).toBe(2);
    expect(retryDelay(503, 2, 3)).toBe(8);
    expect(retryDelay(503, 100, 1)).toBe(MAX_DELAY_S);
    expect(retryDelay(429, 0, 1)).toBe(1); // "0" still waits a moment
    expect(retryDelay(429, 1, MAX_RETRIES + 1)).toBeNull();
    expect(retryDelay(429, null, 1)).toBeNull(); // no header: the server did not ask for a retry
    expect(retryDelay(400, 1, 1)).toBeNull();
    expect(retryDelay(500, 1, 1)).toBeNull();
  });

  it('sleep stops at once when aborted', async () => {
    const c = new AbortController();
    const slept = sleep(60_000, c.signal);
    c.abort();
    await expect(slept).rejects.toMatchObject({ name: 'AbortError' });
  });
});

// ChatApi with a scripted HTTP layer (ServerConnection's `fetch` setting): the client's own code
// runs, only the wire is replaced.
function sse(...events: ChatEvent[]): string {
  return events.map(e => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('');
}

function apiWith(responses: (() => Response)[], seen: string[]): ChatApi {
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : new Request(String(input), init);
    seen.push(`${req.method} ${new URL(req.url).pathname}`);
    const next = responses.shift();
    if (!next) {
      throw new Error('no more responses');
    }
    return next();
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://lab.test/',
    wsUrl: 'ws://lab.test/',
    fetch: fetch as typeof globalThis.fetch,
    Request,
    Headers
  });
  return new ChatApi(settings);
}

const busy = (seconds: string, status = 429) => () =>
  new Response(JSON.stringify({ error: { code: 'busy', message: 'The model is busy.' } }), {
    status,
    headers: { 'Content-Type': 'application/json', 'Retry-After': seconds }
  });

const turn = () =>
  new Response(
    sse(
      { type: 'start', session_id: 's', user_message_id: 1, assistant_message_id: 2, model: 'm' },
      { type: 'token', text: 'hi' },
      { type: 'done', message_id: 2, status: 'complete' }
    ),
    { status: 200, headers: { 'Content-Type': 'text/event-stream' } }
  );

describe('ChatApi turns under load', () => {
  it('retries a refused turn after Retry-After and says how long it waits', async () => {
    const seen: string[] = [];
    const api = apiWith([busy('0'), busy('0', 503), turn], seen);
    const retries: (RetryInfo | null)[] = [];
    const events: ChatEvent[] = [];
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
    try {
      const handle = api.chat('s', { content: 'q' }, e => events.push(e), { onRetry: r => retries.push(r) });
      for (let i = 0; i < 20 && seen.length < 3; i++) {
        await jest.advanceTimersByTimeAsync(1000);
      }
      expect(await handle.finished).toBe('done');
    } finally {
      jest.useRealTimers();
    }
    expect(seen).toEqual(['POST /chat-ext/sessions/s/chat', 'POST /chat-ext/sessions/s/chat', 'POST /chat-ext/sessions/s/chat']);
    expect(retries.map(r => r && [r.attempt, r.max, r.delayS, r.code])).toEqual([[1, MAX_RETRIES, 1, 'busy'], [2, MAX_RETRIES, 2, 'busy'], null]);
    expect(events.map(e => e.type)).toEqual(['start', 'token', 'done']);
  });

  it('gives up after the last try with the server\'s error', async () => {
    const seen: string[] = [];
    const api = apiWith([busy('0'), busy('0'), busy('0'), busy('0')], seen);
    const events: ChatEvent[] = [];
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
    let outcome: string;
    try {
      const handle = api.regenerate('s', {}, e => events.push(e));
      for (let i = 0; i < 40 && seen.length < 4; i++) {
        await jest.advanceTimersByTimeAsync(1000);
      }
      outcome = await handle.finished;
    } finally {
      jest.useRealTimers();
    }
    expect(outcome).toBe('error');
    expect(seen).toHaveLength(1 + MAX_RETRIES);
    expect(events).toEqual([{ type: 'error', code: 'busy', message: 'The model is busy.' }]);
  });

  it('does not retry a refusal without Retry-After, and stop ends the wait', async () => {
    const seen: string[] = [];
    const noHeader = () => new Response(JSON.stringify({ error: { code: 'prompt_too_long', message: 'too long' } }), { status: 413 });
    const api = apiWith([noHeader], seen);
    const events: ChatEvent[] = [];
    expect(await api.chat('s', { content: 'q' }, e => events.push(e)).finished).toBe('error');
    expect(events[0]).toMatchObject({ code: 'prompt_too_long' });

    const waiting = apiWith([busy('20')], seen);
    const handle = waiting.chat('s', { content: 'q' }, () => undefined);
    await new Promise(r => setTimeout(r, 20));
    handle.abort();
    expect(await handle.finished).toBe('aborted');
  });

  it('continue is a POST to the message, and the 409 of an answer still being saved is retried quietly', async () => {
    const seen: string[] = [];
    const conflict = () => new Response(JSON.stringify({ error: { code: 'not_interrupted', message: 'still streaming' } }), { status: 409 });
    const api = apiWith([conflict, turn], seen);
    const retries: unknown[] = [];
    const handle = api.continueAnswer('s', 2, {}, () => undefined, {
      onRetry: r => retries.push(r),
      quietRetry: (err: ApiError, attempt: number) => (err.code === 'not_interrupted' && attempt < 3 ? 10 : null)
    });
    expect(await handle.finished).toBe('done');
    expect(seen).toEqual(['POST /chat-ext/sessions/s/messages/2/continue', 'POST /chat-ext/sessions/s/messages/2/continue']);
    expect(retries).toEqual([]);
  });
});
