/**
 * The messages of the open session and the turn being streamed, as an immutable value.
 *
 * Every function returns a new `Conversation` (React compares by identity). Messages created in
 * this page before the server has named them carry negative ids until the `start` event arrives.
 */
import { ChatEvent, Citation, Message, Metrics, StepEvent, ToolCall, ToolCallEvent, ToolResultEvent } from './types';

export interface Conversation {
  sessionId: string | null;
  messages: Message[];
  /** id (possibly a negative placeholder) of the answer being streamed, or null */
  streamingId: number | null;
  /** placeholder id of the user message of the turn, until the server names it */
  pendingUserId: number | null;
  /** true when older messages exist on the server (pagination) */
  hasMore: boolean;
  /** what the streaming turn does, which decides what its `start` event may drop */
  turn: TurnKind | null;
}

export type TurnKind = 'send' | 'regenerate' | 'edit' | 'continue';

let nextLocalId = -1;
function localId(): number {
  return nextLocalId--;
}

export function emptyConversation(sessionId: string | null = null): Conversation {
  return { sessionId, messages: [], streamingId: null, pendingUserId: null, hasMore: false, turn: null };
}

export function loaded(sessionId: string, messages: Message[], hasMore = false): Conversation {
  return { ...emptyConversation(sessionId), messages: [...messages], hasMore };
}

/**
 * The newest page from the server replaces what it covers (the server is the judge of those
 * messages); older messages already on screen stay. Placeholders of this page are dropped, so
 * call it only while no turn of this page streams.
 */
export function mergeLatest(conv: Conversation, latest: Message[]): Conversation {
  if (!latest.length) {
    return { ...conv, messages: conv.messages.filter(m => m.id > 0) };
  }
  const first = Math.min(...latest.map(m => m.id));
  const older = conv.messages.filter(m => m.id > 0 && m.id < first);
  return { ...conv, messages: [...older, ...latest] };
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

function streamingAnswer(sessionId: string, parentId: number | null): Message {
  return { ...blank(sessionId, 'assistant', ''), status: 'streaming', parent_id: parentId };
}

/** A new turn: the user's message and an empty answer that will stream. */
export function beginSend(conv: Conversation, sessionId: string, content: string): Conversation {
  const user = blank(sessionId, 'user', content);
  const answer = streamingAnswer(sessionId, user.id);
  return {
    ...conv,
    sessionId,
    messages: [...conv.messages, user, answer],
    streamingId: answer.id,
    pendingUserId: user.id,
    turn: 'send'
  };
}

/**
 * Regenerate: a new answer to the last user message streams after the earlier ones, which stay
 * as versions of that turn (assistant messages sharing a parent_id); anything else after the
 * user message goes, as on the server.
 */
export function beginRegenerate(conv: Conversation): Conversation {
  let last = -1;
  conv.messages.forEach((m, i) => {
    if (m.role === 'user') {
      last = i;
    }
  });
  if (last < 0) {
    const answer = streamingAnswer(conv.sessionId ?? '', null);
    return { ...conv, messages: [...conv.messages, answer], streamingId: answer.id, pendingUserId: null, turn: 'regenerate' };
  }
  const user = conv.messages[last];
  const versions = conv.messages.slice(last + 1).filter(m => m.role === 'assistant' && m.parent_id === user.id);
  const answer = streamingAnswer(conv.sessionId ?? '', user.id);
  return {
    ...conv,
    messages: [...conv.messages.slice(0, last + 1), ...versions, answer],
    streamingId: answer.id,
    pendingUserId: null,
    turn: 'regenerate'
  };
}

/** Continue: the interrupted answer `messageId` streams again; new text is appended to it. */
export function beginContinue(conv: Conversation, messageId: number): Conversation {
  if (!conv.messages.some(m => m.id === messageId)) {
    return conv;
  }
  return {
    ...conv,
    messages: patchMessage(conv, messageId, m => ({ ...m, status: 'streaming', metadata: withoutError(m.metadata) })),
    streamingId: messageId,
    pendingUserId: null,
    turn: 'continue'
  };
}

function withoutError(metadata: Message['metadata']): Message['metadata'] {
  if (!metadata || !('error' in metadata)) {
    return metadata;
  }
  const { error: _drop, ...rest } = metadata;
  return rest;
}

/**
 * Edit and resend. New text starts a branch beside the question (the server keeps the old one
 * with its later turns: ‹ i/n › on the question moves between them): this page shows the new
 * question, with an answer streaming, in place of the old one and what followed it. The same
 * text again on the last question asks it again: its earlier answers stay as versions (the
 * same text on an earlier question is a branch too, as on the server).
 */
export function beginEdit(conv: Conversation, messageId: number, content: string): Conversation {
  const index = conv.messages.findIndex(m => m.id === messageId);
  if (index < 0) {
    return conv;
  }
  const original = conv.messages[index];
  const lastTurn = !conv.messages.slice(index + 1).some(m => m.role === 'user');
  if (original.content === content && lastTurn) {
    const versions = conv.messages.slice(index + 1).filter(m => m.role === 'assistant' && m.parent_id === messageId);
    const answer = streamingAnswer(conv.sessionId ?? '', original.id);
    return {
      ...conv,
      messages: [...conv.messages.slice(0, index), original, ...versions, answer],
      streamingId: answer.id,
      pendingUserId: original.id,
      turn: 'regenerate'
    };
  }
  // a new message of its own (the server names it in `start`), with the original's context
  const edited: Message = { ...blank(conv.sessionId ?? '', 'user', content), parent_id: original.parent_id, metadata: original.metadata };
  const answer = streamingAnswer(conv.sessionId ?? '', edited.id);
  return {
    ...conv,
    messages: [...conv.messages.slice(0, index), edited, answer],
    streamingId: answer.id,
    pendingUserId: edited.id,
    turn: 'edit'
  };
}

/**
 * Undo of a delete: the message goes back where it was (the thread is in id order; this page's
 * unsaved placeholders, with negative ids, stay at the end).
 */
export function restoreMessage(conv: Conversation, message: Message): Conversation {
  if (conv.messages.some(m => m.id === message.id)) {
    return conv;
  }
  const at = conv.messages.findIndex(m => m.id < 0 || m.id > message.id);
  const messages = [...conv.messages];
  messages.splice(at < 0 ? messages.length : at, 0, message);
  return { ...conv, messages };
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
          const parent = typeof ev.user_message_id === 'number' ? ev.user_message_id : m.parent_id;
          return { ...m, id: ev.assistant_message_id, model: ev.model ?? m.model, session_id: ev.session_id, parent_id: parent };
        }
        if (conv.pendingUserId !== null && m.id === conv.pendingUserId) {
          return { ...m, id: ev.user_message_id ?? m.id, session_id: ev.session_id };
        }
        return m;
      });
      // The server is the judge of what follows the user message: this answer, and after a
      // regenerate the earlier answers to the same message (its versions). Continue drops nothing.
      const userIndex = conv.turn === 'continue' ? -1 : messages.findIndex(m => m.id === ev.user_message_id);
      if (userIndex >= 0) {
        const keep = (m: Message) =>
          m.id === ev.assistant_message_id || (conv.turn === 'regenerate' && m.role === 'assistant' && m.parent_id === ev.user_message_id);
        messages = [...messages.slice(0, userIndex + 1), ...messages.slice(userIndex + 1).filter(keep)];
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
      // an agent turn that called nothing although a call was asked for says so (chat/tool_intent.py)
      const note = (ev as { note?: unknown }).note;
      const noted = typeof note === 'string' && note ? { tool_note: note } : {};
      const finalId = ev.message_id ?? sid;
      return {
        ...conv,
        messages: patchMessage(conv, sid, m => ({
          ...m,
          id: finalId,
          status: 'complete',
          // continue: `done.text` is the whole message (the part written before the stop included)
          content: conv.turn === 'continue' && typeof ev.text === 'string' ? ev.text : m.content,
          metrics,
          model: metrics.model ?? m.model,
          metadata: { ...(citations && citations.length ? { ...m.metadata, citations } : m.metadata), ...noted }
        })),
        streamingId: null,
        pendingUserId: null,
        turn: null
      };
    }
    case 'tool_call':
    case 'tool_result':
    case 'step':
      return applyAgentEvent(conv, sid, ev);
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
        pendingUserId: null,
        turn: null
      };
    }
  }
  return conv;
}

/**
 * Agent turns (seams C), as the store keeps them: the answer that calls a tool gets the call in
 * `metadata.tool_calls`; each result is a "tool" row after it (parent: the caller); a `step`
 * starts the next answer row, which takes the following tokens and the final `done`.
 */
function applyAgentEvent(conv: Conversation, sid: number, ev: ToolCallEvent | ToolResultEvent | StepEvent): Conversation {
  if (ev.type === 'tool_call') {
    const callerId = typeof ev.message_id === 'number' && conv.messages.some(m => m.id === ev.message_id) ? ev.message_id : sid;
    const call: ToolCall = { id: ev.call_id, type: 'function', function: { name: ev.name, arguments: ev.arguments ?? '' } };
    return {
      ...conv,
      messages: patchMessage(conv, callerId, m => {
        const calls = m.metadata?.tool_calls ?? [];
        return calls.some(c => c.id === call.id) ? m : { ...m, metadata: { ...m.metadata, tool_calls: [...calls, call] } };
      })
    };
  }
  if (ev.type === 'tool_result') {
    if (conv.messages.some(m => m.id === ev.message_id)) {
      return conv;
    }
    const caller = conv.messages.find(m => m.metadata?.tool_calls?.some(c => c.id === ev.call_id));
    const args = caller?.metadata.tool_calls?.find(c => c.id === ev.call_id)?.function.arguments ?? '';
    const row: Message = {
      ...blank(conv.sessionId ?? '', 'tool', ev.content ?? ''),
      id: ev.message_id,
      parent_id: caller?.id ?? sid,
      metadata: { tool_call_id: ev.call_id, name: ev.name, arguments: args, is_error: !!ev.is_error, approval: ev.approval }
    };
    return { ...conv, messages: [...conv.messages, row] };
  }
  // step: the caller's part is over; the next answer streams in a row of its own
  const previous = conv.messages.find(m => m.id === sid);
  const next: Message = { ...streamingAnswer(conv.sessionId ?? '', sid), id: ev.assistant_message_id, model: previous?.model ?? null };
  return {
    ...conv,
    messages: [...patchMessage(conv, sid, m => ({ ...m, status: 'complete' })), next],
    streamingId: next.id
  };
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
    pendingUserId: null,
    turn: null
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
