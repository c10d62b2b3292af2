import {
  applyEvent,
  beginEdit,
  beginRegenerate,
  beginSend,
  Conversation,
  emptyConversation,
  endStream,
  errorText,
  lastAnswer,
  loaded,
  prependOlder,
  removeMessage,
  restoreMessage
} from '../src/conversation';
import { Message } from '../src/types';

function msg(id: number, role: Message['role'], content: string): Message {
  return {
    id,
    session_id: 's',
    role,
    content,
    model: null,
    params: {},
    parent_id: null,
    status: 'complete',
    metadata: {},
    created_at: '2026-01-01T00:00:00Z',
    metrics: null
  };
}

function stream(conv: Conversation, userId: number, answerId: number, tokens: string[]): Conversation {
  conv = applyEvent(conv, { type: 'start', session_id: 's', user_message_id: userId, assistant_message_id: answerId, model: 'tiny' });
  for (const t of tokens) {
    conv = applyEvent(conv, { type: 'token', text: t });
  }
  return conv;
}

describe('conversation', () => {
  it('streams a turn: placeholders get server ids, tokens append, done adds metrics and citations', () => {
    let c = beginSend(emptyConversation(), 's', 'hi');
    expect(c.messages).toHaveLength(2);
    expect(c.messages[0].id).toBeLessThan(0);
    expect(c.messages[1].status).toBe('streaming');
    c = stream(c, 10, 11, ['Hel', 'lo']);
    expect(c.messages.map(m => m.id)).toEqual([10, 11]);
    expect(c.messages[1]).toMatchObject({ content: 'Hello', model: 'tiny', status: 'streaming' });
    expect(c.streamingId).toBe(11);
    c = applyEvent(c, {
      type: 'done',
      message_id: 11,
      status: 'complete',
      finish_reason: 'stop',
      metrics: { completion_tokens: 2, ttft_s: 0.05, tokens_per_s: 20 },
      citations: [{ index: 1, source: 'a.md', location: { line: 3 }, score: 0.9 }]
    });
    expect(c.streamingId).toBeNull();
    expect(c.messages[1].status).toBe('complete');
    expect(c.messages[1].metrics).toMatchObject({ completion_tokens: 2, finish_reason: 'stop' });
    expect(c.messages[1].metadata.citations).toHaveLength(1);
    expect(lastAnswer(c)?.id).toBe(11);
  });

  it('ignores events when nothing streams, and returns new objects otherwise', () => {
    const c = loaded('s', [msg(1, 'user', 'q')]);
    expect(applyEvent(c, { type: 'token', text: 'x' })).toBe(c);
    const s = beginSend(c, 's', 'again');
    expect(s).not.toBe(c);
    expect(c.messages).toHaveLength(1);
  });

  it('marks the answer as an error with the server message and id', () => {
    let c = stream(beginSend(emptyConversation(), 's', 'q'), 1, 2, ['par']);
    c = applyEvent(c, { type: 'error', code: 'model_error', message: 'out of memory', message_id: 2 });
    expect(c.messages[1].status).toBe('error');
    expect(errorText(c.messages[1])).toBe('out of memory');
    expect(c.streamingId).toBeNull();
  });

  it('keeps the partial answer as interrupted when the user stops', () => {
    let c = stream(beginSend(emptyConversation(), 's', 'q'), 1, 2, ['one ', 'two']);
    c = endStream(c, 'interrupted');
    expect(c.messages[1]).toMatchObject({ status: 'interrupted', content: 'one two' });
    expect(endStream(c, 'interrupted')).toBe(c);
  });

  it('regenerate drops the old answer, start keeps the user message', () => {
    let c = loaded('s', [msg(1, 'user', 'q1'), msg(2, 'assistant', 'a1'), msg(3, 'user', 'q2'), msg(4, 'assistant', 'a2')]);
    c = beginRegenerate(c);
    expect(c.messages.map(m => m.content)).toEqual(['q1', 'a1', 'q2', '']);
    c = stream(c, 3, 5, ['new']);
    expect(c.messages.map(m => [m.id, m.content])).toEqual([
      [1, 'q1'],
      [2, 'a1'],
      [3, 'q2'],
      [5, 'new']
    ]);
  });

  it('edit and resend shows the new branch: a new question (named by start) in place of the old turns', () => {
    let c = loaded('s', [msg(1, 'user', 'q1'), msg(2, 'assistant', 'a1'), msg(3, 'user', 'q2'), msg(4, 'assistant', 'a2')]);
    c = beginEdit(c, 1, 'q1 edited');
    expect(c.messages.map(m => m.content)).toEqual(['q1 edited', '']);
    expect(c.messages[0].id).toBeLessThan(0); // a new message: the old q1 stays on the server
    c = stream(c, 8, 9, ['b']);
    expect(c.messages.map(m => m.id)).toEqual([8, 9]);
    expect(beginEdit(c, 12345, 'x')).toBe(c);
  });

  it('the same text on an earlier question is a branch too; on the last one a new version', () => {
    const c = loaded('s', [msg(1, 'user', 'q1'), msg(2, 'assistant', 'a1'), msg(3, 'user', 'q2'), msg(4, 'assistant', 'a2')]);
    expect(beginEdit(c, 1, 'q1').turn).toBe('edit');
    expect(beginEdit(c, 3, 'q2').turn).toBe('regenerate');
  });

  it('undo of a delete puts the message back in its place', () => {
    const c = loaded('s', [msg(1, 'user', 'a'), msg(2, 'assistant', 'b'), msg(3, 'user', 'c')]);
    const gone = removeMessage(c, 2);
    expect(restoreMessage(gone, c.messages[1]).messages.map(m => m.id)).toEqual([1, 2, 3]);
    expect(restoreMessage(removeMessage(c, 3), c.messages[2]).messages.map(m => m.id)).toEqual([1, 2, 3]);
    expect(restoreMessage(c, c.messages[0])).toBe(c);
  });

  it('paginates older messages without duplicates and removes messages', () => {
    let c = loaded('s', [msg(3, 'user', 'c'), msg(4, 'assistant', 'd')], true);
    c = prependOlder(c, [msg(1, 'user', 'a'), msg(2, 'assistant', 'b'), msg(3, 'user', 'c')], false);
    expect(c.messages.map(m => m.id)).toEqual([1, 2, 3, 4]);
    expect(c.hasMore).toBe(false);
    expect(removeMessage(c, 2).messages.map(m => m.id)).toEqual([1, 3, 4]);
  });
});
