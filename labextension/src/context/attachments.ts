/**
 * The context items attached in the composer (chips): each is fetched when attached (a file
 * through the server, a cell from the notebook, a variable from the kernel) and sent with the
 * next message. A subscribable value, like the chat store, for `useSyncExternalStore`.
 */
import { ContextItem, describeVar, ItemKind, toWire, WireContext } from './items';
import { inspectVar, KernelError, KernelLike, listVars } from './kernelVars';
import { RefKind } from './tokens';

/** Where items come from (the lab implements it in sources.ts; tests can use plain objects). */
export interface ContextSources {
  file(path: string): Promise<{ label: string; text: string; truncated?: boolean }>;
  /** entries of a folder under the server root, for `@file:` completion */
  listDir(dir: string): Promise<{ name: string; path: string; type: 'file' | 'directory' | 'notebook' }[]>;
  /** a cell of the active notebook (index 0-based; null: the active cell) with its text outputs */
  cell(index: number | null): { label: string; text: string };
  /** how many cells the active notebook has (0: no notebook) */
  cellCount(): number;
  /** the kernel of the active notebook, or null */
  kernel(): KernelLike | null;
  /** files anywhere under the server root whose path matches `query` (fuzzy, best first) */
  findFiles?(query: string): Promise<{ name: string; path: string; type: 'file' | 'notebook' }[]>;
}

const KERNEL_NOTES: Record<KernelError['reason'], string> = {
  no_kernel: 'no kernel',
  busy: 'kernel busy',
  dead: 'kernel not running',
  timeout: 'kernel busy (no answer)',
  missing: 'no such variable',
  failed: 'kernel error'
};

export class Attachments {
  constructor(readonly sources: ContextSources) {}

  subscribe = (listener: () => void): (() => void) => {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  };
  getItems = (): readonly ContextItem[] => this._items;

  /** Attach `@kind:arg`; resolves when the item is ready or in error (shown on its chip). */
  async add(kind: RefKind, arg: string): Promise<ContextItem> {
    const ref = `@${kind}${arg ? `:${arg}` : ''}`;
    const same = this._items.find(i => i.ref === ref);
    if (same && same.state !== 'error') {
      return same;
    }
    const id = ++this._next;
    const loading: ContextItem = { id, ref, kind: kind as ItemKind, label: ref, text: '', state: 'loading' };
    this.set([...this._items.filter(i => i !== same), loading]);
    let done: ContextItem;
    try {
      const got = await this.resolve(kind, arg);
      done = { ...loading, ...got, state: 'ready' };
    } catch (err) {
      const note = err instanceof KernelError ? KERNEL_NOTES[err.reason] : String((err as Error)?.message ?? err);
      done = { ...loading, state: 'error', note, text: '' };
    }
    // removed while loading: stays removed
    if (this._items.some(i => i.id === id)) {
      this.set(this._items.map(i => (i.id === id ? done : i)));
    }
    return done;
  }

  /**
   * Attach a reference typed by hand (not picked from the menu): the same item as a pick, and
   * an `@file:` name that names no file is looked up across the server root (`@file:gui` finds
   * `docs/gui.md`), the best match attached.
   */
  async addTyped(kind: RefKind, arg: string): Promise<ContextItem> {
    const item = await this.add(kind, arg);
    if (item.state !== 'error' || kind !== 'file' || !this.sources.findFiles) {
      return item;
    }
    let best: string | undefined;
    try {
      best = (await this.sources.findFiles(arg))[0]?.path;
    } catch {
      return item;
    }
    if (!best || best === arg) {
      return item;
    }
    this.remove(item.id);
    return this.add('file', best);
  }

  /** Attach an item already in hand (the fix command's error context). */
  addReady(item: WireContext): void {
    this.set([...this._items, { ...item, id: ++this._next, state: 'ready' }]);
  }

  remove(id: number): void {
    this.set(this._items.filter(i => i.id !== id));
  }

  /** The ready items for the message being sent; the chips are cleared. */
  take(): WireContext[] {
    const wire = toWire(this._items);
    this.set([]);
    return wire;
  }

  /** Variables of the kernel for `@var:` completion (cached briefly: the menu asks per keystroke). */
  async variables(): Promise<[string, string][]> {
    const kernel = this.sources.kernel();
    const now = Date.now();
    if (this._vars && this._vars.kernel === kernel && now - this._vars.at < 3000) {
      return this._vars.list;
    }
    const list = await listVars(kernel, 3000);
    this._vars = { kernel, at: now, list };
    return list;
  }

  private async resolve(kind: RefKind, arg: string): Promise<{ label: string; text: string; note?: string }> {
    if (kind === 'file') {
      const f = await this.sources.file(arg);
      return { label: f.label, text: f.text, note: f.truncated ? 'truncated' : undefined };
    }
    if (kind === 'cell') {
      const index = arg ? Number(arg) - 1 : null;
      return this.sources.cell(index);
    }
    const info = await inspectVar(this.sources.kernel(), arg);
    return describeVar(arg, info);
  }

  private set(items: ContextItem[]): void {
    this._items = items;
    this._listeners.forEach(l => l());
  }

  private _items: ContextItem[] = [];
  private _next = 0;
  private _listeners = new Set<() => void>();
  private _vars: { kernel: KernelLike | null; at: number; list: [string, string][] } | null = null;
}
