import { applyEvent, beginContinue, beginEdit, beginRegenerate, loaded, mergeLatest } from '../src/conversation';
import { Message } from '../src/types';
import { branchOf, threadItems } from '../src/versions';

function msg(id: number, role: Message['role'], content: string, parent: number | null = null, status: Message['status'] = 'complete'): Message {
  return { id, session_id: 's', role, content, model: null, params: {}, parent_id: parent, status, metadata: {}, created_at: '', metrics: null };
}

describe('answer versions', () => {
  const thread = [msg(1, 'user', 'q1'), msg(2, 'assistant', 'a1', 1), msg(3, 'user', 'q2'), msg(4, 'assistant', 'b1', 3), msg(5, 'assistant', 'b2', 3)];

  it('shows the newest answer of a turn with ‹ i/n ›, single answers without', () => {
    const items = threadItems(thread);
    expect(items.map(i => i.message.id)).toEqual([1, 2, 3, 5]);
    expect(items[1].versions).toBeNull();
    expect(items[3].versions).toEqual({ index: 2, count: 2, prev: 4, next: null });
  });

  it('shows the chosen version; an unknown choice falls back to the newest', () => {
    expect(threadItems(thread, { 3: 4 }).map(i => i.message.id)).toEqual([1, 2, 3, 4]);
    expect(threadItems(thread, { 3: 4 })[3].versions).toEqual({ index: 1, count: 2, prev: null, next: 5 });
    expect(threadItems(thread, { 3: 99 }).map(i => i.message.id)).toEqual([1, 2, 3, 5]);
  });

  it('regenerate streams a new version after the kept ones; start keeps them', () => {
    let c = beginRegenerate(loaded('s', thread));
    expect(c.messages.map(m => m.content)).toEqual(['q1', 'a1', 'q2', 'b1', 'b2', '']);
    expect(c.messages[5].parent_id).toBe(3);
    c = applyEvent(c, { type: 'start', session_id: 's', user_message_id: 3, assistant_message_id: 6, model: 'm' });
    c = applyEvent(c, { type: 'token', text: 'b3' });
    expect(c.messages.map(m => m.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(threadItems(c.messages)[3]).toMatchObject({ message: { id: 6, content: 'b3', status: 'streaming' }, versions: { index: 3, count: 3 } });
  });

  it('continue streams into the interrupted message and ends with the whole text', () => {
    const stopped = [msg(1, 'user', 'q'), msg(2, 'assistant', 'Once upon', 1, 'interrupted'), msg(3, 'user', 'later')];
    let c = beginContinue(loaded('s', stopped), 2);
    expect(c.streamingId).toBe(2);
    c = applyEvent(c, { type: 'start', session_id: 's', user_message_id: 1, assistant_message_id: 2, model: 'm' });
    c = applyEvent(c, { type: 'token', text: ' a time' });
    expect(c.messages.map(m => m.content)).toEqual(['q', 'Once upon a time', 'later']); // nothing dropped
    c = applyEvent(c, { type: 'done', message_id: 2, status: 'complete', text: 'Once upon a time.' });
    expect(c.messages[1]).toMatchObject({ status: 'complete', content: 'Once upon a time.' });
    expect(c.streamingId).toBeNull();
  });

  it('the newest page from the server replaces what it covers', () => {
    const c = loaded('s', [msg(1, 'user', 'q'), msg(2, 'assistant', 'partial', 1, 'streaming')]);
    const next = mergeLatest(c, [msg(2, 'assistant', 'partial and more', 1, 'complete')]);
    expect(next.messages.map(m => [m.id, m.content, m.status])).toEqual([
      [1, 'q', 'complete'],
      [2, 'partial and more', 'complete']
    ]);
  });
});

describe('edit and resend', () => {
  it('the same text again keeps the earlier answers as versions; new text starts a branch', () => {
    const base = loaded('s', [msg(1, 'user', 'q'), msg(2, 'assistant', 'a1', 1)]);
    const same = beginEdit(base, 1, 'q');
    expect(same.turn).toBe('regenerate');
    expect(same.messages.map(m => m.content)).toEqual(['q', 'a1', '']);
    const changed = beginEdit(base, 1, 'q2');
    expect(changed.turn).toBe('edit');
    expect(changed.messages.map(m => m.content)).toEqual(['q2', '']);
  });
});

describe('branches', () => {
  it('a question with siblings carries ‹ i/n ›; answers and single questions do not', () => {
    const q = { ...msg(5, 'user', 'q'), branch: { index: 2, count: 2, prev: 1, next: null } };
    expect(branchOf(q)).toEqual({ index: 2, count: 2, prev: 1, next: null });
    expect(branchOf({ ...q, branch: { index: 1, count: 1, prev: null, next: null } })).toBeNull();
    expect(branchOf(msg(5, 'user', 'q'))).toBeNull();
    expect(branchOf({ ...q, role: 'assistant' })).toBeNull();
  });
});
