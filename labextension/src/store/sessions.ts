/**
 * The session list (History): search, rename, pin, delete, export, import. Changes to a session
 * are reported through `onChanged` / `onDeleted` so the open thread follows them.
 */
import type { ChatApi } from '../api';
import { Session } from '../types';
import { SessionsState, SliceDeps } from './state';

export type SessionsApi = Pick<ChatApi, 'sessions' | 'updateSession' | 'deleteSession' | 'exportSession' | 'importSession'>;

export const initialSessions = (): SessionsState => ({
  sessions: [],
  sessionsTotal: 0,
  query: '',
  sessionsLoading: false
});

export interface SessionHooks {
  /** a session's fields changed on the server (rename, pin, model, options, a finished turn) */
  onChanged(session: Session): void;
  onDeleted(id: string): void;
  onImported(session: Session): Promise<void>;
}

export class SessionsSlice {
  constructor(
    private readonly deps: SliceDeps<SessionsApi>,
    private readonly hooks: SessionHooks
  ) {}

  private get state(): SessionsState {
    return this.deps.cell.get();
  }
  private set(patch: Partial<SessionsState>): void {
    this.deps.cell.set(patch);
  }

  async refresh(query = this.state.query): Promise<void> {
    const seq = ++this._seq;
    this.set({ sessionsLoading: true, query });
    try {
      const { sessions, total } = await this.deps.api.sessions(query.trim(), 200);
      if (seq === this._seq) {
        this.set({ sessions, sessionsTotal: total, sessionsLoading: false });
      }
    } catch (err) {
      if (seq === this._seq) {
        this.set({ sessionsLoading: false });
        this.deps.fail(err, 'Could not list chats');
      }
    }
  }

  /** Put a fresh copy of a session in the list (first when it is new) and tell the thread. */
  upsert(session: Session): void {
    const list = this.state.sessions;
    if (list.some(s => s.id === session.id)) {
      this.set({ sessions: list.map(s => (s.id === session.id ? session : s)) });
    } else {
      this.set({ sessions: [session, ...list], sessionsTotal: this.state.sessionsTotal + 1 });
    }
    this.hooks.onChanged(session);
  }

  /** Update the fields of a session on the server; returns null (and says why) on failure. */
  async update(id: string, fields: Parameters<SessionsApi['updateSession']>[1], what: string): Promise<Session | null> {
    try {
      const session = await this.deps.api.updateSession(id, fields);
      this.upsert(session);
      return session;
    } catch (err) {
      this.deps.fail(err, what);
      return null;
    }
  }

  async rename(id: string, title: string): Promise<void> {
    await this.update(id, { title }, 'Could not rename');
  }

  async togglePin(session: Session): Promise<void> {
    if (await this.update(session.id, { pinned: !session.pinned }, 'Could not pin')) {
      await this.refresh(); // pinned chats sort first
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.deps.api.deleteSession(id);
      this.set({
        sessions: this.state.sessions.filter(s => s.id !== id),
        sessionsTotal: Math.max(0, this.state.sessionsTotal - 1)
      });
      this.hooks.onDeleted(id);
    } catch (err) {
      this.deps.fail(err, 'Could not delete');
    }
  }

  exportSession(id: string, format: 'markdown' | 'json'): Promise<{ text: string; filename: string }> {
    return this.deps.api.exportSession(id, format);
  }

  /** Import a JSON export (the text of the file), then open it. */
  async importText(text: string): Promise<Session | null> {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      this.deps.cell.set({ notice: { kind: 'error', text: 'Import: the file is not JSON (import takes a JSON export).' } });
      return null;
    }
    try {
      const session = await this.deps.api.importSession(data);
      await this.refresh();
      await this.hooks.onImported(session);
      return session;
    } catch (err) {
      this.deps.fail(err, 'Import failed');
      return null;
    }
  }

  private _seq = 0;
}
