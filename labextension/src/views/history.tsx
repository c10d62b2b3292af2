/** The History tab: search, import, and the list of chats with their actions. */
import { fileUploadIcon, refreshIcon, searchIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useRef, useState } from 'react';

import { formatWhen, sessionTitle, sessionTokens } from '../format';
import { pinIcon } from '../icons';
import { ChatState, ChatStore } from '../store';
import { Session } from '../types';
import { NoticeBar } from './notice';
import type { PanelServices } from './panel';
import { DeleteSessionButton, Download, ExportButton, PinButton, RenameButton } from './sessionActions';

function SessionItem(props: { session: Session; current: boolean; store: ChatStore; download: Download }): JSX.Element {
  const { session: s, store } = props;
  const meta = [formatWhen(s.updated_at), s.model, `${s.message_count} msg`, sessionTokens(s) ? `${sessionTokens(s)} tokens` : '']
    .filter(Boolean)
    .join(' · ');
  return (
    <li className={`jp-ChatExt-session${props.current ? ' jp-mod-current' : ''}`} data-session-id={s.id}>
      <button type="button" className="jp-ChatExt-sessionOpen" onClick={() => void store.thread.open(s.id)} aria-current={props.current}>
        <span className="jp-ChatExt-sessionTitle">
          {s.pinned ? <pinIcon.react tag="span" className="jp-ChatExt-icon jp-ChatExt-pinned" title="Pinned" /> : null}
          {sessionTitle(s)}
        </span>
        <span className="jp-ChatExt-sessionMeta">{meta}</span>
      </button>
      <div className="jp-ChatExt-sessionActions">
        <PinButton session={s} store={store} />
        <RenameButton session={s} store={store} label="Rename" />
        <ExportButton session={s} store={store} download={props.download} format="markdown" />
        <ExportButton session={s} store={store} download={props.download} format="json" />
        <DeleteSessionButton session={s} store={store} />
      </div>
    </li>
  );
}

/** "1 chat", "3 chats" */
export function chatCount(n: number): string {
  return `${n} chat${n === 1 ? '' : 's'}`;
}

export function HistoryView(props: { state: ChatState; services: PanelServices }): JSX.Element {
  const { state, services } = props;
  const store = services.store;
  const [q, setQ] = useState(state.query);
  const file = useRef<HTMLInputElement>(null);
  useEffect(() => {
    // search as the user types, once they pause
    const t = setTimeout(() => {
      if (q !== state.query) {
        void store.sessions.refresh(q);
      }
    }, 250);
    return () => clearTimeout(t);
  }, [q]);
  return (
    <div className="jp-ChatExt-view" role="tabpanel" aria-labelledby="jp-ChatExt-tab-history">
      <div className="jp-ChatExt-searchRow">
        <searchIcon.react tag="span" className="jp-ChatExt-icon" />
        <input
          type="search"
          className="jp-ChatExt-inputField jp-ChatExt-search"
          aria-label="Search chats"
          placeholder="Search titles and messages"
          value={q}
          onChange={e => setQ(e.target.value)}
          onKeyDown={e => {
            if (e.key === 'Enter') {
              void store.sessions.refresh(q);
            }
          }}
        />
        <button type="button" className="jp-ChatExt-iconButton" title="Import a JSON export" aria-label="Import chat" onClick={() => file.current?.click()}>
          <fileUploadIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
        <button type="button" className="jp-ChatExt-iconButton" title="Refresh" aria-label="Refresh" onClick={() => void store.sessions.refresh(q)}>
          <refreshIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
        <input
          ref={file}
          type="file"
          accept=".json,application/json"
          hidden
          onChange={async e => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (f) {
              await store.sessions.importText(await f.text());
            }
          }}
        />
      </div>
      <div className="jp-ChatExt-listInfo" role="status">
        {state.sessionsLoading ? 'Searching…' : q.trim() ? `${chatCount(state.sessionsTotal)} ${state.sessionsTotal === 1 ? 'matches' : 'match'} “${q.trim()}”` : chatCount(state.sessionsTotal)}
      </div>
      <NoticeBar notice={state.notice} role="alert" />
      <ul className="jp-ChatExt-sessions" aria-label="Chats">
        {state.sessions.map(s => (
          <SessionItem key={s.id} session={s} current={state.current?.id === s.id} store={store} download={services.download} />
        ))}
      </ul>
    </div>
  );
}
