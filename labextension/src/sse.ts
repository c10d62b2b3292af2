/**
 * Server-sent events: the byte stream of a fetch Response -> typed chat events.
 *
 * Parsing of the `text/event-stream` format is left to `eventsource-parser`; this module only
 * decodes bytes, maps named events onto {@link ChatEvent}s and reports malformed payloads.
 */
import { createParser, EventSourceMessage } from 'eventsource-parser';

import { ChatEvent } from './types';

const KNOWN = new Set(['start', 'token', 'done', 'error', 'tool_call', 'tool_result', 'step']);

/**
 * Turn one parsed SSE message into a chat event, or null when it is not one (comments, pings,
 * unknown event names). The `event:` name wins over a `type` field inside the JSON.
 */
export function toChatEvent(msg: EventSourceMessage): ChatEvent | null {
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(msg.data);
  } catch {
    return {
      type: 'error',
      code: 'bad_stream',
      message: `Malformed event from the server: ${msg.data.slice(0, 200)}`
    };
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return null;
  }
  const type = msg.event ?? (typeof payload.type === 'string' ? payload.type : undefined);
  if (!type || !KNOWN.has(type)) {
    return null;
  }
  if (type === 'token' && typeof payload.text !== 'string') {
    return null;
  }
  // agent events the page cannot act on without their ids are dropped
  if ((type === 'tool_call' || type === 'tool_result') && (typeof payload.call_id !== 'string' || typeof payload.name !== 'string')) {
    return null;
  }
  if (type === 'step' && typeof payload.assistant_message_id !== 'number') {
    return null;
  }
  if (type === 'error' && typeof payload.message !== 'string') {
    payload.message = String(payload.message ?? payload.code ?? 'Unknown error');
  }
  return { ...payload, type } as ChatEvent;
}

/** An incremental decoder: feed it text chunks, get chat events through the callback. */
export class ChatEventDecoder {
  constructor(onEvent: (event: ChatEvent) => void) {
    this._parser = createParser({
      onEvent: msg => {
        const ev = toChatEvent(msg);
        if (ev) {
          onEvent(ev);
        }
      }
    });
  }

  feed(chunk: string): void {
    this._parser.feed(chunk);
  }

  /** Flush a trailing event that was not terminated by a blank line. */
  end(): void {
    // A blank line dispatches the pending event; after a complete stream it is a no-op.
    this._parser.feed('\n\n');
    this._parser.reset();
  }

  private _parser: ReturnType<typeof createParser>;
}

/**
 * Read a whole event stream. Resolves when the stream ends; rejects with the reader's error
 * (an AbortError when the request's signal was aborted).
 */
export async function readChatEvents(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: ChatEvent) => void
): Promise<void> {
  const decoder = new TextDecoder();
  const events = new ChatEventDecoder(onEvent);
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      events.feed(decoder.decode(value, { stream: true }));
    }
    events.feed(decoder.decode());
    events.end();
  } finally {
    reader.releaseLock();
  }
}
