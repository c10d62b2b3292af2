import { ChatEventDecoder, readChatEvents, toChatEvent } from '../src/sse';
import { ChatEvent } from '../src/types';

function frames(...events: [string, unknown][]): string {
  return events.map(([type, data]) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`).join('');
}

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) {
        controller.enqueue(typeof c === 'string' ? enc.encode(c) : c);
      }
      controller.close();
    }
  });
}

const TURN = frames(
  ['start', { type: 'start', session_id: 's1', user_message_id: 1, assistant_message_id: 2, model: 'm' }],
  ['token', { type: 'token', text: 'Hel' }],
  ['token', { type: 'token', text: 'lo\n\nwörld' }],
  [
    'done',
    {
      type: 'done',
      session_id: 's1',
      user_message_id: 1,
      message_id: 2,
      status: 'complete',
      finish_reason: 'stop',
      metrics: { completion_tokens: 3, ttft_s: 0.1, tokens_per_s: 12.5 },
      citations: []
    }
  ]
);

describe('toChatEvent', () => {
  it('uses the event name and keeps the payload', () => {
    expect(toChatEvent({ event: 'token', data: '{"text":"a"}' })).toEqual({ type: 'token', text: 'a' });
  });
  it('falls back to the type field when the event is unnamed', () => {
    expect(toChatEvent({ data: '{"type":"token","text":"b"}' })).toEqual({ type: 'token', text: 'b' });
  });
  it('ignores unknown events and payloads that are not objects', () => {
    expect(toChatEvent({ event: 'ping', data: '{}' })).toBeNull();
    expect(toChatEvent({ event: 'token', data: '[1,2]' })).toBeNull();
    expect(toChatEvent({ event: 'token', data: '{"text": 5}' })).toBeNull();
  });
  it('turns malformed JSON into an error event', () => {
    const ev = toChatEvent({ event: 'token', data: '{not json' });
    expect(ev?.type).toBe('error');
    expect((ev as { message: string }).message).toContain('Malformed');
  });
  it('gives error events a message string', () => {
    expect(toChatEvent({ event: 'error', data: '{"code":"busy"}' })).toEqual({ type: 'error', code: 'busy', message: 'busy' });
  });
});

describe('ChatEventDecoder', () => {
  it('decodes a turn split at every possible byte boundary', () => {
    const whole: ChatEvent[] = [];
    const d0 = new ChatEventDecoder(e => whole.push(e));
    d0.feed(TURN);
    expect(whole.map(e => e.type)).toEqual(['start', 'token', 'token', 'done']);
    for (let cut = 1; cut < TURN.length; cut += 7) {
      const got: ChatEvent[] = [];
      const d = new ChatEventDecoder(e => got.push(e));
      d.feed(TURN.slice(0, cut));
      d.feed(TURN.slice(cut));
      expect(got).toEqual(whole);
    }
  });
  it('handles CRLF line endings, comments and multi-line data', () => {
    const got: ChatEvent[] = [];
    const d = new ChatEventDecoder(e => got.push(e));
    d.feed(': keep-alive\r\n\r\nevent: token\r\ndata: {"text":\r\ndata: "x"}\r\n\r\n');
    expect(got).toEqual([{ type: 'token', text: 'x' }]);
  });
  it('flushes a last event without its blank line at end()', () => {
    const got: ChatEvent[] = [];
    const d = new ChatEventDecoder(e => got.push(e));
    d.feed('event: error\ndata: {"code":"model_error","message":"boom","message_id":7}');
    expect(got).toEqual([]);
    d.end();
    expect(got).toEqual([{ type: 'error', code: 'model_error', message: 'boom', message_id: 7 }]);
  });
});

describe('readChatEvents', () => {
  it('reads a byte stream whose chunks split a multi-byte character', async () => {
    const bytes = new TextEncoder().encode(TURN);
    const i = TURN.indexOf('ö');
    const byteCut = new TextEncoder().encode(TURN.slice(0, i)).length + 1; // inside "ö"
    const got: ChatEvent[] = [];
    await readChatEvents(streamOf([bytes.slice(0, byteCut), bytes.slice(byteCut)]), e => got.push(e));
    const text = got.filter(e => e.type === 'token').map(e => (e as { text: string }).text).join('');
    expect(text).toBe('Hello\n\nwörld');
    expect(got[got.length - 1]).toMatchObject({ type: 'done', message_id: 2, metrics: { completion_tokens: 3 } });
  });

  it('rejects with the abort reason when the stream errors', async () => {
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(frames(['token', { text: 'partial' }])));
        controller.signal.addEventListener('abort', () => c.error(new DOMException('aborted', 'AbortError')));
      }
    });
    const got: ChatEvent[] = [];
    const done = readChatEvents(body, e => {
      got.push(e);
      controller.abort();
    });
    await expect(done).rejects.toMatchObject({ name: 'AbortError' });
    expect(got).toEqual([{ type: 'token', text: 'partial' }]);
  });
});
