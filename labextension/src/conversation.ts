/**
 * The messages of the open session and the turn being streamed, as an immutable value.
 *
 * Every function returns a new `Conversation` (React compares by identity). Messages created in
 * this page before the server has named them carry negative ids until the `start` event arrives.
 */
import { ChatEvent, Citation, Message, Metrics } from './types';

export interface Conversation {
  sessionId: string | null;
  messages: Message[];
  /** id (possibly a negative placeholder) of the answer being streamed, or null */
  streamingId: number | null;
  /** placeholder id of the user message of the turn, until the server names it */
  pendingUserId: number | null;
  /** true when older messages exist on the server (pagination) */
  hasMore: boolean;
}

let nextLocalId = -1;
function localId(): number {
  return nextLocalId--;
}

export function emptyConversation(sessionId: string | null = null): Conversation {
  return { sessionId, messages: [], streamingId: null, pendingUserId: null, hasMore: false };
}

export function loaded(sessionId: string, messages: Message[], hasMore = false): Conversation {
  return { ...emptyConversation(sessionId), messages: [...messages], hasMore };
}

export function prependOlder(conv: Conversation, older: Message[], hasMore: boolean): Conversation {
  const known = new Set(conv.messages.map(m => m.id));
  return {
    ...conv,
    messages: [...older.filter(m => !known.has(m.id)), ...conv.messages],
    hasMore
  };
}

function blank(sessionId: string, role: Message['role'], content: string): Message {
  return {
    id: localId(),
    session_id: sessionId,
    role,
    content,
    model: null,
    params: {},
    parent_id: null,
    status: 'complete',
    metadata: {},
    created_at: new Date().toISOString(),
    metrics: null
  };
}

/** A new turn: the user's message and an empty answer that will stream. */
export function beginSend(conv: Conversation, sessionId: string, content: string): Conversation {
  const user = blank(sessionId, 'user', content);
  const answer = { ...blank(sessionId, 'assistant', ''), status: 'streaming' as const };
  return {
    ...conv,
    sessionId,
    messages: [...conv.messages, user, answer],
    streamingId: answer.id,
    pendingUserId: user.id
  };
}

/** Regenerate: drop everything after the last user message and stream a new answer. */
export function beginRegenerate(conv: Conversation): Conversation {
  let last = -1;
  conv.messages.forEach((m, i) => {
    if (m.role === 'user') {
      last = i;
    }
  });
  const kept = last >= 0 ? conv.messages.slice(0, last + 1) : [...conv.messages];
  const answer = { ...blank(conv.sessionId ?? '', 'assistant', ''), status: 'streaming' as const };
  return { ...conv, messages: [...kept, answer], streamingId: answer.id, pendingUserId: null };
}

/** Edit and resend: the user message takes the new text, later messages go, an answer streams. */
export function beginEdit(conv: Conversation, messageId: number, content: string): Conversation {
  const index = conv.messages.findIndex(m => m.id === messageId);
  if (index < 0) {
    return conv;
  }
  const edited = { ...conv.messages[index], content };
  const answer = { ...blank(conv.sessionId ?? '', 'assistant', ''), status: 'streaming' as const };
  return {
    ...conv,
    messages: [...conv.messages.slice(0, index), edited, answer],
    streamingId: answer.id,
    pendingUserId: edited.id
  };
}

function patchMessage(conv: Conversation, id: number | null, patch: (m: Message) => Message): Message[] {
  return conv.messages.map(m => (m.id === id ? patch(m) : m));
}

/** Apply one server event of the current turn. */
export function applyEvent(conv: Conversation, ev: ChatEvent): Conversation {
  const sid = conv.streamingId;
  if (sid === null) {
    return conv;
  }
  switch (ev.type) {
    case 'start': {
      let messages = conv.messages.map(m => {
        if (m.id === sid) {
          return { ...m, id: ev.assistant_message_id, model: ev.model, session_id: ev.session_id };
        }
        if (conv.pendingUserId !== null && m.id === conv.pendingUserId) {
          return { ...m, id: ev.user_message_id, session_id: ev.session_id };
        }
        return m;
      });
      // The server is the judge of what follows the user message: nothing but this answer.
      const userIndex = messages.findIndex(m => m.id === ev.user_message_id);
      if (userIndex >= 0) {
        messages = [
          ...messages.slice(0, userIndex + 1),
          ...messages.slice(userIndex + 1).filter(m => m.id === ev.assistant_message_id)
        ];
      }
      return {
        ...conv,
        sessionId: ev.session_id,
        messages,
        streamingId: ev.assistant_message_id,
        pendingUserId: null
      };
    }
    case 'token':
      return {
        ...conv,
        messages: patchMessage(conv, sid, m => ({ ...m, content: m.content + ev.text }))
      };
    case 'done': {
      const citations: Citation[] | undefined = ev.citations;
      const metrics: Metrics = { ...(ev.metrics ?? {}), finish_reason: ev.finish_reason };
      const finalId = ev.message_id ?? sid;
      return {
        ...conv,
        messages: patchMessage(conv, sid, m => ({
          ...m,
          id: finalId,
          status: 'complete',
          metrics,
          model: metrics.model ?? m.model,
          metadata: citations && citations.length ? { ...m.metadata, citations } : m.metadata
        })),
        streamingId: null,
        pendingUserId: null
      };
    }
    case 'error': {
      const finalId = typeof ev.message_id === 'number' ? ev.message_id : sid;
      return {
        ...conv,
        messages: patchMessage(conv, sid, m => ({
          ...m,
          id: finalId,
          status: 'error',
          metadata: { ...m.metadata, error: { code: ev.code, message: ev.message } }
        })),
        streamingId: null,
        pendingUserId: null
      };
    }
  }
  return conv;
}

/** The request ended without done/error: aborted by the user or the connection dropped. */
export function endStream(conv: Conversation, reason: 'interrupted' | 'error', message?: string): Conversation {
  const sid = conv.streamingId;
  if (sid === null) {
    return conv;
  }
  return {
    ...conv,
    messages: patchMessage(conv, sid, m => ({
      ...m,
      status: reason,
      metadata: message ? { ...m.metadata, error: { code: 'stream', message } } : m.metadata
    })),
    streamingId: null,
    pendingUserId: null
  };
}

export function removeMessage(conv: Conversation, id: number): Conversation {
  return { ...conv, messages: conv.messages.filter(m => m.id !== id) };
}

/** The last assistant message, when it is the last message (the one "regenerate" replaces). */
export function lastAnswer(conv: Conversation): Message | null {
  const last = conv.messages[conv.messages.length - 1];
  return last && last.role === 'assistant' ? last : null;
}

export function errorText(m: Message): string | null {
  const err = m.metadata?.error;
  if (!err) {
    return null;
  }
  if (typeof err === 'string') {
    return err;
  }
  return err.message ?? err.code ?? 'error';
}
