/**
 * Reopen the last chat after a browser reload. The id of the open chat is kept in JupyterLab's
 * state database (saved with the workspace, so it survives a reload); at start-up the sidebar
 * opens it again, or stays on a new chat when it has been deleted since.
 */
import type { IStateDB } from '@jupyterlab/statedb';

import type { ChatState } from './state';

export const LAST_CHAT_KEY = 'jupyter-chat-ext:last-chat';

/** Where the id is kept (the state DB in the lab; anything with the same two calls in tests). */
export interface ChatMemory {
  load(): Promise<string | null>;
  save(id: string | null): Promise<void>;
}

export function stateDBMemory(db: IStateDB, key: string = LAST_CHAT_KEY): ChatMemory {
  return {
    async load() {
      const value = (await db.fetch(key)) as { session?: unknown } | undefined;
      return value && typeof value.session === 'string' ? value.session : null;
    },
    async save(id) {
      if (id) {
        await db.save(key, { session: id });
      } else {
        await db.remove(key);
      }
    }
  };
}

/** The parts of the chat store this needs. */
export interface Reopenable {
  getState(): ChatState;
  subscribe(listener: () => void): () => void;
  openSession(id: string, options: { quiet: boolean; background: boolean }): Promise<boolean>;
}

/**
 * Restore the remembered chat once (call when the server answers), then remember every chat
 * opened or started from then on. Nothing is saved before the restore has run: the empty start
 * state would otherwise erase what the last visit left.
 */
export class LastChat {
  constructor(
    private readonly store: Reopenable,
    private readonly memory: ChatMemory
  ) {}

  async restore(): Promise<void> {
    if (this._restored) {
      return;
    }
    this._restored = true;
    try {
      const id = await this.memory.load();
      const s = this.store.getState();
      // Only when the user has not started something else meanwhile.
      if (id && !s.current && s.conversation.messages.length === 0) {
        const opened = await this.store.openSession(id, { quiet: true, background: true });
        if (!opened && !this.store.getState().current) {
          await this.memory.save(null); // deleted since: stay on a new chat
        }
      }
    } catch (err) {
      console.warn('jupyter-chat-ext: cannot reopen the last chat', err);
    }
    this._unsubscribe = this.store.subscribe(() => this.follow());
    this.follow(); // a chat started while the restore ran counts too
  }

  private follow(): void {
    const id = this.store.getState().current?.id ?? null;
    if (id !== this._last) {
      this._last = id;
      this.memory.save(id).catch(err => console.warn('jupyter-chat-ext: cannot remember the chat', err));
    }
  }

  dispose(): void {
    this._unsubscribe?.();
  }

  private _restored = false;
  private _last: string | null = null;
  private _unsubscribe: (() => void) | null = null;
}
