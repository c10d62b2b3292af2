import { ApiError } from '../src/api';
import { CellOutput, NotebookDoc, NotebookTools } from '../src/notebookTools';
import { toChatEvent } from '../src/sse';
import { ChatStore } from '../src/store';
import { callState, claimedCalls, LiveCall, resultsByCall } from '../src/store/tools';
import { Message } from '../src/types';
import { threadItems } from '../src/versions';
import { MemoryServer, ScriptedCall } from './support/memoryServer';

/** A two-cell notebook model with the shared-model API the tools use. */
function notebook(): { doc: NotebookDoc; sources: () => string[] } {
  const cells = ['x = 1', 'print(x)'].map(src => {
    let source = src;
    return { cell_type: 'code', getSource: () => source, setSource: (s: string) => void (source = s), getOutputs: (): CellOutput[] => [] };
  });
  const doc: NotebookDoc = { cells, insertCell: () => undefined };
  return { doc, sources: () => cells.map(c => c.getSource()) };
}

const EDIT: ScriptedCall = { name: 'edit_cell', arguments: '{"index": 0, "source": "x = 2"}', effect: 'write', executor: 'client', approval: 'required' };

interface Setup {
  store: ChatStore;
  server: MemoryServer;
  sources: () => string[];
  allowed: string[][];
}

async function setup(script: ScriptedCall[] = [EDIT], withNotebook = true): Promise<Setup> {
  const server = new MemoryServer();
  server.toolScript = script;
  const store = new ChatStore(server);
  const nb = notebook();
  const allowed: string[][] = [];
  store.toolsEnv = {
    executor: () => (withNotebook ? new NotebookTools({ path: 'demo.ipynb', doc: nb.doc, runCell: async () => [] }) : null),
    allow: names => allowed.push(names),
    maxSteps: () => 3
  };
  expect(await store.checkHealth()).toBe(true);
  store.tools.setOn(true);
  return { store, server, sources: nb.sources, allowed };
}

/** Resolves with the first live call in `phase` (the card is on screen). */
function when(store: ChatStore, phase: LiveCall['phase']): Promise<LiveCall> {
  return new Promise(resolve => {
    const check = () => {
      const c = Object.values(store.getState().toolCalls).find(x => x.phase === phase);
      if (c) {
        unsubscribe();
        resolve(c);
      }
    };
    const unsubscribe = store.subscribe(check);
  });
}

const roles = (store: ChatStore) => store.getState().conversation.messages.map(m => [m.role, m.content]);

describe('tools slice', () => {
  it('the switch decides whether the chat body carries tools, and which the page runs', async () => {
    const { store, server } = await setup([]);
    store.tools.setOn(false);
    await store.send('plain');
    expect(server.lastTools).toBeUndefined();
    store.tools.setOn(true);
    await store.send('with tools');
    expect(server.lastTools).toEqual({ names: null, client: ['list_cells', 'read_cell', 'insert_cell', 'edit_cell', 'run_cell'], max_steps: 3 });

    const other = await setup([], false);
    await other.store.send('no notebook open');
    expect(other.server.lastTools).toEqual({ names: null, client: [], max_steps: 3 });
  });

  it('Approve once runs the edit here and sends its result; the thread shows call, result, next step', async () => {
    const { store, server, sources } = await setup();
    const turn = store.send('set x to 2');
    const asking = await when(store, 'asking');
    expect(asking).toMatchObject({ name: 'edit_cell', executor: 'client', effect: 'write' });
    expect(sources()).toEqual(['x = 1', 'print(x)']); // nothing runs before the user says so
    await store.tools.decide(asking.callId, 'approve');
    await turn;
    expect(sources()).toEqual(['x = 2', 'print(x)']);
    expect(server.replies).toEqual([
      { callId: asking.callId, reply: { decision: 'approve', result: { content: 'Cell 0 (code) now has 1 line(s) of source.', is_error: false }, token: `secret-${asking.callId}` } }
    ]);
    expect(roles(store)).toEqual([
      ['user', 'set x to 2'],
      ['assistant', ''],
      ['tool', 'Cell 0 (code) now has 1 line(s) of source.'],
      ['assistant', 'one two three']
    ]);
    const messages = store.getState().conversation.messages;
    expect(messages.map(m => m.id)).toEqual(server.stored.map(m => m.id));
    expect(messages[1].metadata.tool_calls).toEqual([{ id: asking.callId, type: 'function', function: { name: 'edit_cell', arguments: EDIT.arguments } }]);
    expect(messages[2]).toMatchObject({ parent_id: messages[1].id, metadata: { tool_call_id: asking.callId, approval: 'approved', is_error: false } });
    expect(messages.map(m => m.status)).toEqual(['complete', 'complete', 'complete', 'complete']);
    // the step's answer shares the question with the calling answer, yet is no "version" of it
    expect(threadItems(messages).map(i => [i.message.role, i.versions])).toEqual([
      ['user', null],
      ['assistant', null],
      ['tool', null],
      ['assistant', null]
    ]);
    expect(callState(resultsByCall(messages).get(asking.callId), store.getState().toolCalls[asking.callId])).toBe('done');
  });

  it('Deny changes nothing and the denial is the result the model sees', async () => {
    const { store, server, sources } = await setup();
    const turn = store.send('set x to 2');
    const asking = await when(store, 'asking');
    await store.tools.decide(asking.callId, 'deny');
    await turn;
    expect(sources()).toEqual(['x = 1', 'print(x)']);
    expect(server.replies[0].reply).toEqual({ decision: 'deny', result: null, token: expect.stringMatching(/^secret-/) });
    const row = store.getState().conversation.messages[2];
    expect(row).toMatchObject({ role: 'tool', content: 'The user denied this call.', metadata: { approval: 'denied', is_error: true } });
    expect(callState(row, undefined)).toBe('denied');
  });

  it('Always for this tool keeps it in the allow-list; the next call of it does not ask', async () => {
    const { store, server, sources, allowed } = await setup();
    const turn = store.send('set x to 2');
    await store.tools.decide((await when(store, 'asking')).callId, 'always');
    await turn;
    expect(allowed).toEqual([['edit_cell']]);
    expect(store.getState().toolAllowlist).toEqual(['edit_cell']);

    const phases: string[] = [];
    store.subscribe(() => phases.push(...Object.values(store.getState().toolCalls).map(c => c.phase)));
    await store.send('again'); // nobody answers: the allow-list does
    expect(server.replies.map(r => r.reply.decision)).toEqual(['always', 'always']);
    expect(sources()[0]).toBe('x = 2');
    expect(store.getState().conversation.messages.filter(m => m.role === 'tool').map(m => m.metadata.approval)).toEqual(['always', 'always']);
    expect(allowed).toEqual([['edit_cell']]); // already there: the settings are not written again
    expect(phases).not.toContain('cancelled');
  });

  it('read tools of the page run at once; server tools are left to the server', async () => {
    const list: ScriptedCall = { name: 'list_cells', arguments: '{}', effect: 'read', executor: 'client', approval: 'auto' };
    const file: ScriptedCall = { name: 'read_file', arguments: '{"path": "a.txt"}', effect: 'read', executor: 'server', approval: 'auto' };
    const { store, server } = await setup([list, file]);
    await store.send('what is in the notebook?');
    expect(server.replies).toHaveLength(1);
    expect(server.replies[0].reply).toEqual({ decision: 'approve', result: { content: expect.stringContaining('[1] code, 1 line: print(x)'), is_error: false }, token: expect.stringMatching(/^secret-/) });
    const tools = store.getState().conversation.messages.filter(m => m.role === 'tool');
    expect(tools.map(m => [m.metadata.name, m.metadata.approval])).toEqual([
      ['list_cells', 'auto'],
      ['read_file', 'auto']
    ]);
    expect(tools[1].content).toBe('server ran read_file');
  });

  it('a write tool of the page never runs unasked, even when the server says "auto" (a call it refused)', async () => {
    const bad: ScriptedCall = { ...EDIT, arguments: '{"index": 0, "source": "x = 3", "extra": 1}', approval: 'auto', refused: 'invalid arguments: extra is not allowed' };
    const { store, server, sources } = await setup([bad]);
    const seen: string[] = [];
    store.subscribe(() => seen.push(...Object.values(store.getState().toolCalls).map(c => c.phase)));
    await store.send('set x to 3');
    expect(seen).toContain('asking');
    expect(seen).not.toContain('running');
    expect(server.replies).toEqual([]);
    expect(sources()[0]).toBe('x = 1');
    const row = store.getState().conversation.messages[2];
    expect(callState(row, Object.values(store.getState().toolCalls)[0])).toBe('error');
  });

  it('a write tool the server\'s allow-list names runs without a card', async () => {
    const listed: ScriptedCall = { ...EDIT, approval: 'auto', allowed: true };
    const { store, server, sources } = await setup([listed]);
    const seen: string[] = [];
    store.subscribe(() => seen.push(...Object.values(store.getState().toolCalls).map(c => c.phase)));
    await store.send('set x to 2');
    expect(server.replies.map(r => r.reply.decision)).toEqual(['approve']);
    expect(sources()[0]).toBe('x = 2');
    expect(seen).not.toContain('failed');
  });

  it('an allow-listed tool still refuses a call that breaks its schema (the server refused it too)', async () => {
    const bad: ScriptedCall = { ...EDIT, arguments: '{"index": 0, "source": "x = 3", "extra": 1}', approval: 'auto' };
    const { store, server, sources } = await setup([bad]);
    store.tools.setAllowlist(['edit_cell']);
    await store.send('set x to 3');
    expect(sources()[0]).toBe('x = 1');
    expect(server.replies[0].reply).toEqual({ decision: 'always', result: { content: expect.stringContaining('edit_cell takes no "extra"'), is_error: true }, token: expect.stringMatching(/^secret-/) });
  });

  it('a notebook tool with no notebook open is an error result, not a hang', async () => {
    const read: ScriptedCall = { name: 'read_cell', arguments: '{"index": 0}', effect: 'read', executor: 'client', approval: 'auto' };
    const { store, server } = await setup([read], false);
    await store.send('read it');
    expect(server.replies[0].reply.result).toEqual({ content: 'read_cell cannot run: no notebook is open in JupyterLab', is_error: true });
  });

  it('Stop while the card asks ends the turn: the call is over, nothing ran', async () => {
    const { store, server, sources } = await setup();
    const turn = store.send('set x to 2');
    const asking = await when(store, 'asking');
    store.stop();
    await turn;
    expect(store.getState().toolCalls[asking.callId].phase).toBe('cancelled');
    expect(store.getState().streaming).toBe(false);
    await store.tools.decide(asking.callId, 'approve'); // a late click does nothing
    expect(server.replies).toEqual([]);
    expect(sources()[0]).toBe('x = 1');
  });

  it('a refused reply (the call timed out meanwhile) is shown on the call', async () => {
    const { store, server } = await setup([{ ...EDIT, executor: 'server' }]);
    const turn = store.send('set x to 2');
    const asking = await when(store, 'asking');
    const reply = server.replyToolCall.bind(server);
    server.replyToolCall = async () => {
      throw new ApiError(404, 'tool_call_not_found', 'The tool call is over (timeout).');
    };
    await store.tools.decide(asking.callId, 'approve');
    expect(store.getState().toolCalls[asking.callId]).toMatchObject({ phase: 'failed', error: 'The tool call is over (timeout).' });
    expect(callState(undefined, store.getState().toolCalls[asking.callId])).toBe('failed');
    store.stop();
    await turn;
    server.replyToolCall = reply;
  });

  it('a reopened chat shows its calls from the stored rows', async () => {
    const { store, server } = await setup();
    const turn = store.send('set x to 2');
    await store.tools.decide((await when(store, 'asking')).callId, 'approve');
    await turn;
    const fresh = new ChatStore(server);
    await fresh.checkHealth();
    expect(await fresh.openSession('s1')).toBe(true);
    const messages = fresh.getState().conversation.messages;
    const calls = claimedCalls(messages);
    const results = resultsByCall(messages);
    expect([...calls]).toEqual(['call_1']);
    expect(results.get('call_1')?.content).toContain('Cell 0');
    expect(callState(results.get('call_1'), fresh.getState().toolCalls.call_1)).toBe('done');
    expect(threadItems(messages).map(i => i.message.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
  });
});

describe('thread items of agent turns', () => {
  const m = (id: number, role: Message['role'], parent: number | null): Message => ({
    id,
    session_id: 's',
    role,
    content: `${role} ${id}`,
    model: null,
    params: {},
    parent_id: parent,
    status: 'complete',
    metadata: {},
    created_at: '2026-12-01T00:00:00Z',
    metrics: null
  });

  it('tool rows and later steps follow the answer that called; only such answers are versions', () => {
    // a regenerated turn: answer 2 (plain), then answer 3 called a tool (4) and step 5 answered;
    // step 5 has the question as parent here, the worst case for the version grouping
    const messages = [m(1, 'user', null), m(2, 'assistant', 1), m(3, 'assistant', 1), m(4, 'tool', 3), m(5, 'assistant', 1)];
    expect(threadItems(messages).map(i => [i.message.id, i.versions?.index ?? null, i.versions?.count ?? null])).toEqual([
      [1, null, null],
      [3, 2, 2],
      [4, null, null],
      [5, null, null]
    ]);
    // the first version shown: the chain of the second is hidden with it
    expect(threadItems(messages, { 1: 2 }).map(i => i.message.id)).toEqual([1, 2]);
  });
});

describe('agent events on the stream', () => {
  it('tool_call, tool_result and step parse; ones without their ids are dropped', () => {
    const ev = (event: string, data: unknown) => toChatEvent({ event, data: JSON.stringify(data), id: undefined });
    const call = { message_id: 2, call_id: 'call_1', name: 'edit_cell', arguments: '{}', source: 'notebook', effect: 'write', approval: 'required', executor: 'client' };
    expect(ev('tool_call', call)).toEqual({ type: 'tool_call', ...call });
    expect(ev('tool_result', { message_id: 3, call_id: 'call_1', name: 'edit_cell', content: 'ok', is_error: false, approval: 'approved' })).toMatchObject({ type: 'tool_result' });
    expect(ev('step', { index: 1, assistant_message_id: 4 })).toEqual({ type: 'step', index: 1, assistant_message_id: 4 });
    expect(ev('tool_call', { ...call, call_id: undefined })).toBeNull();
    expect(ev('tool_result', { call_id: 'c' })).toBeNull();
    expect(ev('step', { index: 1 })).toBeNull();
  });
});
