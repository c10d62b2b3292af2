import { StateDB } from '@jupyterlab/statedb';

import { ChatStore } from '../src/store';
import { ChatMemory, LAST_CHAT_KEY, stateDBMemory } from '../src/store/lastChat';
import { threadItems } from '../src/versions';
import { MemoryServer } from './support/memoryServer';

const texts = (store: ChatStore) => store.getState().conversation.messages.map(m => [m.role, m.content, m.status]);
const shown = (store: ChatStore) => threadItems(store.getState().conversation.messages, store.getState().versions);

async function ready(server = new MemoryServer(), memory: ChatMemory | null = null): Promise<[ChatStore, MemoryServer]> {
  const store = new ChatStore(server, undefined, memory);
  expect(await store.checkHealth()).toBe(true);
  return [store, server];
}

describe('thread slice', () => {
  it('send creates the chat, streams the answer and lists the session', async () => {
    const [store, server] = await ready();
    const seen: boolean[] = [];
    store.subscribe(() => seen.push(store.getState().streaming));
    await store.send('hello');
    const s = store.getState();
    expect(s.current?.id).toBe('s1');
    expect(texts(store)).toEqual([
      ['user', 'hello', 'complete'],
      ['assistant', 'one two three', 'complete']
    ]);
    expect(s.conversation.messages.map(m => m.id)).toEqual([1, 2]);
    expect(s.conversation.messages[1].parent_id).toBe(1);
    expect(seen).toContain(true);
    expect(s.streaming).toBe(false);
    expect(s.sessions.map(x => x.id)).toEqual(['s1']);
    expect(server.calls).toEqual(['chat hello']);
  });

  it('regenerate keeps the earlier answer as a version: ‹ 2/2 ›, then back to 1/2', async () => {
    const [store, server] = await ready();
    await store.send('q');
    server.reply = 'again';
    await store.thread.regenerate();
    expect(texts(store)).toEqual([
      ['user', 'q', 'complete'],
      ['assistant', 'one two three', 'complete'],
      ['assistant', 'again', 'complete']
    ]);
    let items = shown(store);
    expect(items.map(i => i.message.content)).toEqual(['q', 'again']);
    expect(items[1].versions).toEqual({ index: 2, count: 2, prev: 2, next: null });
    store.thread.chooseVersion(1, 2);
    items = shown(store);
    expect(items.map(i => i.message.content)).toEqual(['q', 'one two three']);
    expect(items[1].versions).toMatchObject({ index: 1, count: 2, next: 3 });
    // a third answer is shown at once, whatever was picked before
    server.reply = 'third';
    await store.thread.regenerate();
    expect(shown(store)[1]).toMatchObject({ message: { content: 'third' }, versions: { index: 3, count: 3 } });
  });

  it('delete offers Undo and touches the server only once that time is over', async () => {
    const [store, server] = await ready();
    await store.send('q');
    store.thread.deleteMessage(2);
    expect(texts(store)).toEqual([['user', 'q', 'complete']]);
    const notice = store.getState().notice;
    expect(notice?.action?.label).toBe('Undo');
    expect(server.stored.map(m => m.id)).toEqual([1, 2]); // nothing dropped yet
    notice!.action!.run();
    expect(texts(store)).toEqual([
      ['user', 'q', 'complete'],
      ['assistant', 'one two three', 'complete']
    ]);
    expect(store.getState().notice).toBeNull();
    // deleted again, then the user moves on: the delete happens then
    store.thread.deleteMessage(2);
    store.thread.newChat();
    await new Promise(r => setTimeout(r, 0));
    expect(server.stored.map(m => m.id)).toEqual([1]);
  });

  it('the branch switch asks the server and shows the branch it lists', async () => {
    const [store, server] = await ready();
    await store.send('q');
    await store.thread.switchBranch(1);
    expect(server.switched).toEqual([1]);
    expect(texts(store)).toEqual([
      ['user', 'q', 'complete'],
      ['assistant', 'one two three', 'complete']
    ]);
  });

  it('stop keeps the partial, Continue appends to the same message until it is complete', async () => {
    const [store, server] = await ready();
    server.reply = 'a b c d e f g h';
    const unsubscribe = store.subscribe(() => {
      if (store.getState().conversation.messages[1]?.content.includes('c')) {
        store.stop(); // a few tokens in
      }
    });
    await store.send('long');
    unsubscribe();
    const stopped = store.getState().conversation.messages[1];
    expect(stopped.status).toBe('interrupted');
    expect(stopped.content.length).toBeGreaterThan(0);
    expect(stopped.content.length).toBeLessThan('a b c d e f g h'.length);

    await store.thread.continueAnswer(stopped.id);
    const after = store.getState().conversation.messages;
    expect(after).toHaveLength(2);
    expect(after[1]).toMatchObject({ id: stopped.id, status: 'complete' });
    expect(after[1].content.startsWith(stopped.content)).toBe(true);
    expect(after[1].content.length).toBeGreaterThan(stopped.content.length);
    expect(server.calls).toEqual(['chat long', `continue ${stopped.id}`]);
  });

  it('edit and resend drops the answers of the old question', async () => {
    const [store, server] = await ready();
    await store.send('q1');
    await store.thread.regenerate();
    await store.thread.editAndResend(1, 'q1 edited');
    expect(texts(store)).toEqual([
      ['user', 'q1 edited', 'complete'],
      ['assistant', 'one two three', 'complete']
    ]);
    expect(server.stored.map(m => m.id)).toEqual([1, 4]);
  });

  it('a refused turn shows the wait, then clears it', async () => {
    const [store, server] = await ready();
    server.refuse = 1;
    const retries: (number | null)[] = [];
    store.subscribe(() => retries.push(store.getState().retry?.attempt ?? null));
    await store.send('q');
    expect(retries).toContain(1);
    expect(store.getState().retry).toBeNull();
    expect(texts(store)[1]).toEqual(['assistant', 'one two three', 'complete']);
  });

  it('a turn refused for good puts the question back in the composer (issue 20)', async () => {
    const [store, server] = await ready();
    server.refuseForGood = true;
    await store.send('please answer');
    expect(texts(store)).toEqual([]);
    expect(store.getState().composer).toBe('please answer');
    expect(store.getState().notice).toMatchObject({ kind: 'error' });
    expect(store.getState().notice?.text).toContain('busy');
  });

  it('an answer another client is writing is shown and followed until it ends', async () => {
    const [store, server] = await ready();
    const s = await server.createSession({});
    await server.chat(s.id, { content: 'elsewhere' }, () => undefined).finished;
    const answer = server.stored[1];
    Object.assign(answer, { status: 'streaming', content: 'half' });
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
    try {
      expect(await store.thread.open(s.id)).toBe(true);
      expect(texts(store)[1]).toEqual(['assistant', 'half', 'streaming']);
      Object.assign(answer, { status: 'complete', content: 'half and the rest' });
      await jest.advanceTimersByTimeAsync(2000);
    } finally {
      jest.useRealTimers();
    }
    expect(texts(store)[1]).toEqual(['assistant', 'half and the rest', 'complete']);
  });
});

describe('sessions slice', () => {
  it('rename and pin follow into the open chat; deleting it goes back to a new chat', async () => {
    const [store] = await ready();
    await store.send('q');
    const id = store.getState().current!.id;
    await store.sessions.rename(id, 'Renamed');
    expect(store.getState().current?.title).toBe('Renamed');
    expect(store.getState().sessions[0].title).toBe('Renamed');
    await store.sessions.togglePin(store.getState().current!);
    expect(store.getState().current?.pinned).toBe(true);
    await store.sessions.remove(id);
    const s = store.getState();
    expect(s.current).toBeNull();
    expect(s.conversation.messages).toEqual([]);
    expect(s.view).toBe('history');
    expect(s.sessions).toEqual([]);
  });

  it('import opens the imported chat; a bad file is an error notice', async () => {
    const [store] = await ready();
    expect(await store.sessions.importText('not json')).toBeNull();
    expect(store.getState().notice?.kind).toBe('error');
    const s = await store.sessions.importText(JSON.stringify({ session: { title: 'Old chat' } }));
    expect(store.getState().current?.id).toBe(s?.id);
    expect(store.getState().sessions.map(x => x.title)).toEqual(['Old chat']);
  });

  it('a failed call says what failed', async () => {
    const [store] = await ready();
    await store.sessions.rename('nope', 'x');
    expect(store.getState().notice).toEqual({ kind: 'error', text: 'Could not rename: No session nope' });
  });
});

describe('catalog slice', () => {
  it('loads a model with polled progress, and ingests documents into a new collection', async () => {
    const [store] = await ready();
    await store.catalog.refreshModels();
    await store.catalog.loadModel('tiny');
    expect(store.getState().models[0]).toMatchObject({ state: 'loaded', device: 'cpu' });
    expect(store.effectiveModel).toBe('tiny');

    expect(await store.catalog.createCollection(' docs ')).toBe(true);
    expect(await store.catalog.createCollection('docs')).toBe(false);
    expect(store.getState().notice?.text).toMatch(/Could not create the collection: docs exists/);
    const job = await store.catalog.addDocuments('docs', ['a.md', 'b.md']);
    expect(job).toMatchObject({ state: 'done', files_done: 2 });
    expect(store.getState().jobs[0].state).toBe('done');
    store.catalog.setCollection('docs');
    await store.catalog.deleteCollection('docs');
    expect(store.getState().collection).toBe(''); // a deleted collection is no longer chosen
  });
});

describe('last chat across reloads (JupyterLab state DB)', () => {
  it('reopens the chat remembered by the previous page', async () => {
    const db = new StateDB();
    const server = new MemoryServer();
    const [first] = await ready(server, stateDBMemory(db));
    await first.send('remember me');
    const id = first.getState().current!.id;
    expect(await db.fetch(LAST_CHAT_KEY)).toEqual({ session: id });
    first.dispose();

    const [second] = await ready(server, stateDBMemory(db)); // "after the reload"
    await new Promise(r => setTimeout(r, 10));
    expect(second.getState().current?.id).toBe(id);
    expect(second.getState().conversation.messages.map(m => m.content)).toEqual(['remember me', 'one two three']);
    second.newChat();
    await new Promise(r => setTimeout(r, 0));
    expect(await db.fetch(LAST_CHAT_KEY)).toBeUndefined();
  });

  it('falls back to a new chat (quietly) when the remembered chat was deleted', async () => {
    const db = new StateDB();
    await db.save(LAST_CHAT_KEY, { session: 'gone' });
    const [store] = await ready(new MemoryServer(), stateDBMemory(db));
    await new Promise(r => setTimeout(r, 10));
    expect(store.getState().current).toBeNull();
    expect(store.getState().notice).toBeNull();
    expect(await db.fetch(LAST_CHAT_KEY)).toBeUndefined();
  });
});
