/**
 * The sidebar's state, one object in one {@link Cell}, made of the parts each slice owns:
 * the app frame (health, view, notices, composer), the session list, the catalog (models,
 * collections, ingest jobs) and the open thread. Pure types plus the tiny observable cell.
 */
import { ContextKind } from '../context';
import { Conversation } from '../conversation';
import { Collection, GenerationParams, IngestJob, ModelInfo, Session } from '../types';
import type { LiveCall } from './tools';

export type HealthState = 'checking' | 'ok' | 'missing' | 'offline' | 'error';
export type View = 'chat' | 'history' | 'collections' | 'models';

export interface Notice {
  kind: 'error' | 'info';
  text: string;
  /** a button on the notice (e.g. Undo of a delete) */
  action?: { label: string; run: () => void };
}

/** Options of a chat that does not exist on the server yet (the first send creates it). */
export interface Draft {
  model: string | null;
  system_prompt: string | null;
  params: GenerationParams;
}

/** "busy, retrying in Ns": the server refused the turn (429/503 + Retry-After) and we wait. */
export interface RetryNotice {
  attempt: number;
  max: number;
  delayS: number;
  /** epoch ms when the next try starts (the view counts down to it) */
  until: number;
  message: string;
}

export interface AppState {
  health: { state: HealthState; message: string; version?: string; defaultModel?: string };
  view: View;
  notice: Notice | null;
  /** the composer's text (commands can fill it) and a counter that asks it to take focus */
  composer: string;
  focusRequest: number;
  contextKind: ContextKind;
  /** whether a notebook is open (the "include context" choices need one) */
  hasNotebook: boolean;
}

export interface SessionsState {
  sessions: Session[];
  sessionsTotal: number;
  query: string;
  sessionsLoading: boolean;
}

export interface CatalogState {
  models: ModelInfo[];
  modelsError: string | null;
  collections: Collection[];
  jobs: IngestJob[];
  /** the collection the next turn retrieves from ('' = none) */
  collection: string;
}

export interface ThreadState {
  current: Session | null;
  draft: Draft;
  conversation: Conversation;
  messagesLoading: boolean;
  /** a turn of this page is streaming */
  streaming: boolean;
  /** the answer version picked for a turn: parent (user message) id -> assistant message id */
  versions: Record<number, number>;
  retry: RetryNotice | null;
}

/** Tools of agent turns (store/tools.ts): the switch, the allow-list, the live calls. */
export interface ToolsState {
  toolsOn: boolean;
  /** tools approved "always" (the extension's `toolAllowlist` setting) */
  toolAllowlist: string[];
  /** calls of the streaming turn, by call id */
  toolCalls: Record<string, LiveCall>;
}

export type ChatState = AppState & SessionsState & CatalogState & ThreadState & ToolsState;

/** An observable value: every change goes through `set`, listeners run after each one. */
export class Cell<T extends object> {
  constructor(initial: T) {
    this._value = initial;
  }

  get = (): T => this._value;

  set(patch: Partial<T>): void {
    this._value = { ...this._value, ...patch };
    for (const listener of this._listeners) {
      listener();
    }
  }

  subscribe = (listener: () => void): (() => void) => {
    this._listeners.add(listener);
    return () => {
      this._listeners.delete(listener);
    };
  };

  clear(): void {
    this._listeners.clear();
  }

  private _value: T;
  private _listeners = new Set<() => void>();
}

/** What every slice is given: the server, the shared cell, and how to report a failure. */
export interface SliceDeps<A> {
  api: A;
  cell: Cell<ChatState>;
  fail(err: unknown, what: string): void;
}
