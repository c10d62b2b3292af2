import { Attachments, ContextSources } from '../src/context/attachments';
import { ChatStore } from '../src/store';
import { MemoryServer } from './support/memoryServer';

/** The in-memory server, keeping the chat bodies it was sent. */
class Recording extends MemoryServer {
  bodies: Record<string, unknown>[] = [];
  chat(...args: Parameters<MemoryServer['chat']>): ReturnType<MemoryServer['chat']> {
    this.bodies.push(args[1] as Record<string, unknown>);
    return super.chat(...args);
  }
}

const sources: ContextSources = {
  file: async path => ({ label: path, text: `text of ${path}` }),
  listDir: async () => [],
  cell: index => ({ label: `nb.ipynb, cell ${(index ?? 0) + 1}`, text: '```python\nx = 1\n```' }),
  cellCount: () => 1,
  kernel: () => null
};

describe('attached context', () => {
  it('sends ready chips in the chat body, shows them on the message and clears them', async () => {
    const server = new Recording();
    const store = new ChatStore(server);
    store.attachments = new Attachments(sources);
    expect(await store.checkHealth()).toBe(true);
    const cell = await store.attachments.add('cell', '');
    const file = await store.attachments.add('file', 'notes.md');
    const v = await store.attachments.add('var', 'df');
    expect([cell.state, file.state, v.state]).toEqual(['ready', 'ready', 'error']);
    expect(v.note).toBe('no kernel');
    // the same reference again replaces an item in error, keeps a ready one
    expect((await store.attachments.add('cell', '')).id).toBe(cell.id);
    expect(store.attachments.getItems()).toHaveLength(3);

    await store.send('what is x?');
    const wire = [
      { kind: 'cell', label: 'nb.ipynb, cell 1', text: '```python\nx = 1\n```' },
      { kind: 'file', label: 'notes.md', text: 'text of notes.md' }
    ];
    expect(server.bodies[0].context).toEqual(wire);
    expect(server.bodies[0].content).toBe('what is x?');
    expect(store.attachments.getItems()).toEqual([]);
    const user = store.getState().conversation.messages.find(m => m.role === 'user')!;
    expect(user.metadata.context).toEqual(wire);

    // no chips: no context key at all (the body stays as before)
    await store.send('again');
    expect('context' in server.bodies[1]).toBe(false);
  });

  it('a fix turn carries its error context; refused while an answer streams', async () => {
    const server = new Recording();
    const store = new ChatStore(server);
    expect(await store.checkHealth()).toBe(true);
    const error = { kind: 'error' as const, label: 'nb.ipynb, cell 2: ZeroDivisionError', text: 'tb' };
    const first = store.sendWithContext('Fix it', [error]);
    expect(first).toBe(true);
    expect(store.sendWithContext('Fix it again', [error])).toBe(false); // the first still streams
    await new Promise(r => setTimeout(r, 200));
    expect(server.bodies).toHaveLength(1);
    expect(server.bodies[0].context).toEqual([error]);
  });

  it('a fix goes to a new chat, not to the end of the chat that is open (issue 20)', async () => {
    const server = new Recording();
    const store = new ChatStore(server);
    expect(await store.checkHealth()).toBe(true);
    await store.send('an unrelated question');
    const open = store.getState().current!.id;
    const error = { kind: 'error' as const, label: 'nb.ipynb, cell 2: ZeroDivisionError', text: 'tb' };
    expect(store.sendWithContext('Fix it', [error])).toBe(true);
    await new Promise(r => setTimeout(r, 200));
    const now = store.getState().current!.id;
    expect(now).not.toBe(open);
    expect(store.getState().conversation.messages.filter(m => m.role === 'user').map(m => m.content)).toEqual(['Fix it']);
  });

  it('references typed by hand become context like picked ones, and leave the text (issue 20)', async () => {
    const server = new Recording();
    const store = new ChatStore(server);
    expect(await store.checkHealth()).toBe(true);
    store.attachments = new Attachments(sources);
    await store.send('@cell:1 How many rows?');
    expect(server.bodies[0].content).toBe('How many rows?');
    expect((server.bodies[0].context as { label: string }[]).map(c => c.label)).toEqual(['nb.ipynb, cell 1']);
    // one that cannot be attached: nothing is sent, the question goes back to the composer
    await store.send('@var:df what is it?');
    expect(server.bodies).toHaveLength(1);
    expect(store.getState().composer).toBe('@var:df what is it?');
    expect(store.getState().notice?.text).toContain('@var:df');
  });

  it('an @file: name that names no file attaches the best match across the root', async () => {
    const attachments = new Attachments({
      ...sources,
      file: async path => {
        if (path !== 'docs/gui.md') {
          throw new Error('not found');
        }
        return { label: path, text: '# GUI' };
      },
      findFiles: async () => [{ name: 'gui.md', path: 'docs/gui.md', type: 'file' }]
    });
    const item = await attachments.addTyped('file', 'gui');
    expect(item).toMatchObject({ state: 'ready', label: 'docs/gui.md' });
    expect(attachments.getItems()).toHaveLength(1);
  });
});
