/** The sidebar: tabs (Chat, History, Documents), the model bar, and the health banner. */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import {
  addIcon,
  closeIcon,
  deleteIcon,
  downloadIcon,
  editIcon,
  fileUploadIcon,
  ReactWidget,
  refreshIcon,
  searchIcon,
  settingsIcon
} from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import React, { useEffect, useRef, useState, useSyncExternalStore } from 'react';

import { Composer } from './composer';
import { formatBytes, formatWhen, modelLabel, modelStateLabel, sessionTitle, sessionTokens } from './format';
import { chatIcon, pinIcon } from './icons';
import { MessageActions, MessageList } from './messages';
import { OptionsPanel } from './options';
import { ChatState, ChatStore, View } from './store';
import { ModelInfo, Session } from './types';

export interface PanelServices {
  store: ChatStore;
  rendermime: IRenderMimeRegistry;
  actions: MessageActions;
  download(text: string, filename: string, mime: string): void;
  openSettings(): void;
}

function useChatState(store: ChatStore): ChatState {
  return useSyncExternalStore(store.subscribe, store.getState);
}

function Banner(props: { state: ChatState; store: ChatStore }): JSX.Element | null {
  const h = props.state.health;
  if (h.state === 'ok' || h.state === 'checking') {
    return null;
  }
  const title = h.state === 'missing' ? 'Server extension missing' : h.state === 'offline' ? 'Offline' : 'Chat server error';
  return (
    <div className="jp-ChatExt-banner" role="alert" data-health={h.state}>
      <strong>{title}.</strong> <span>{h.message}</span>
      <button type="button" className="jp-ChatExt-button jp-mod-styled" onClick={() => void props.store.checkHealth()}>
        Retry
      </button>
    </div>
  );
}

function Tabs(props: { view: View; onView: (v: View) => void; onNew: () => void }): JSX.Element {
  const tabs: [View, string][] = [
    ['chat', 'Chat'],
    ['history', 'History'],
    ['collections', 'Documents']
  ];
  return (
    <div className="jp-ChatExt-tabs">
      <div role="tablist" aria-label="Chat views" className="jp-ChatExt-tabList">
        {tabs.map(([v, label]) => (
          <button
            key={v}
            type="button"
            role="tab"
            id={`jp-ChatExt-tab-${v}`}
            aria-selected={props.view === v}
            tabIndex={props.view === v ? 0 : -1}
            className={`jp-ChatExt-tab${props.view === v ? ' jp-mod-current' : ''}`}
            onClick={() => props.onView(v)}
            onKeyDown={e => {
              const i = tabs.findIndex(t => t[0] === props.view);
              if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                const next = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length][0];
                props.onView(next);
                (e.currentTarget.parentElement?.querySelector(`#jp-ChatExt-tab-${next}`) as HTMLElement | null)?.focus();
              }
            }}
          >
            {label}
          </button>
        ))}
      </div>
      <button type="button" className="jp-ChatExt-iconButton" title="New chat" aria-label="New chat" onClick={props.onNew}>
        <addIcon.react tag="span" className="jp-ChatExt-icon" />
      </button>
    </div>
  );
}

function ModelBar(props: { state: ChatState; store: ChatStore }): JSX.Element {
  const { state, store } = props;
  const chatModels = state.models.filter(m => m.kind === 'chat');
  const selected = store.selectedModel;
  const effective = store.effectiveModel;
  const info: ModelInfo | undefined = state.models.find(m => m.id === effective);
  const defaultLabel = state.health.defaultModel ? `Default (${state.health.defaultModel})` : 'Default model';
  return (
    <div className="jp-ChatExt-modelBar">
      <select
        className="jp-ChatExt-select jp-ChatExt-modelSelect"
        aria-label="Model"
        value={selected}
        disabled={store.streaming}
        onChange={e => void store.selectModel(e.target.value)}
      >
        <option value="">{defaultLabel}</option>
        {chatModels.map(m => (
          <option key={m.id} value={m.id}>
            {modelLabel(m)} · {modelStateLabel(m)}
          </option>
        ))}
      </select>
      {info ? (
        <span className={`jp-ChatExt-pill jp-ChatExt-pill-${info.state}`} title={info.error ?? `${info.source} ${info.format}${info.dtype ? `, ${info.dtype}` : ''}`}>
          {modelStateLabel(info)}
        </span>
      ) : null}
      {info && (info.state === 'unloaded' || info.state === 'error') ? (
        <button type="button" className="jp-ChatExt-button jp-mod-styled" onClick={() => void store.loadModel(info.id)}>
          Load
        </button>
      ) : null}
      {info && info.state === 'loaded' ? (
        <button type="button" className="jp-ChatExt-button jp-mod-styled" disabled={store.streaming} onClick={() => void store.unloadModel(info.id)}>
          Unload
        </button>
      ) : null}
      {info && info.state === 'loading' ? (
        <progress
          className="jp-ChatExt-progress"
          aria-label={`Loading ${info.id}`}
          max={1}
          value={typeof info.progress === 'number' && info.progress > 0 ? info.progress : undefined}
        />
      ) : null}
      {state.modelsError ? <span className="jp-ChatExt-fieldError">{state.modelsError}</span> : null}
      {info?.state === 'error' && info.error ? <div className="jp-ChatExt-error">{info.error}</div> : null}
    </div>
  );
}

function ChatView(props: { state: ChatState; services: PanelServices }): JSX.Element {
  const { state, services } = props;
  const store = services.store;
  const [optionsOpen, setOptionsOpen] = useState(false);
  const session = state.current;
  const busy = store.streaming;
  const effective = store.effectiveModel;
  const modelInfo = state.models.find(m => m.id === effective);
  const modelLoading = busy && modelInfo && modelInfo.state !== 'loaded' ? effective : null;
  useEffect(() => {
    if (modelLoading) {
      void store.refreshModels();
      const t = setInterval(() => void store.refreshModels(), 1000);
      return () => clearInterval(t);
    }
  }, [modelLoading]);
  const empty = (
    <div className="jp-ChatExt-empty">
      <chatIcon.react tag="div" className="jp-ChatExt-emptyIcon" />
      <p>Ask a question about your code, your notebook or your documents.</p>
      <p className="jp-ChatExt-hint">Enter sends · Shift+Enter adds a line · answers stay on this machine.</p>
    </div>
  );
  return (
    <div className="jp-ChatExt-view" role="tabpanel" aria-labelledby="jp-ChatExt-tab-chat">
      <div className="jp-ChatExt-chatHeader">
        <span className="jp-ChatExt-chatTitle" title={session ? sessionTitle(session) : 'New chat'}>
          {session ? sessionTitle(session) : 'New chat'}
        </span>
        {session ? (
          <button
            type="button"
            className="jp-ChatExt-iconButton"
            title="Rename"
            aria-label="Rename chat"
            onClick={async () => {
              const r = await InputDialog.getText({ title: 'Rename chat', text: session.title ?? '', okLabel: 'Rename' });
              if (r.button.accept && r.value !== null && r.value.trim()) {
                void store.renameSession(session.id, r.value.trim());
              }
            }}
          >
            <editIcon.react tag="span" className="jp-ChatExt-icon" />
          </button>
        ) : null}
        {session ? (
          <button
            type="button"
            className="jp-ChatExt-iconButton"
            title="Export as Markdown"
            aria-label="Export as Markdown"
            onClick={async () => {
              const { text, filename } = await store.exportSession(session.id, 'markdown');
              services.download(text, filename, 'text/markdown');
            }}
          >
            <downloadIcon.react tag="span" className="jp-ChatExt-icon" />
          </button>
        ) : null}
        <button
          type="button"
          className={`jp-ChatExt-iconButton${optionsOpen ? ' jp-mod-active' : ''}`}
          title="System prompt and generation options"
          aria-label="Chat options"
          aria-expanded={optionsOpen}
          onClick={() => setOptionsOpen(!optionsOpen)}
        >
          <settingsIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
      </div>
      <ModelBar state={state} store={store} />
      {optionsOpen ? (
        <OptionsPanel
          key={session?.id ?? 'draft'}
          systemPrompt={session ? session.system_prompt : state.draft.system_prompt}
          params={(session ? session.params : state.draft.params) ?? {}}
          defaults={store.defaults}
          onSave={(p, params) => void store.saveOptions(p, params)}
          onClose={() => setOptionsOpen(false)}
        />
      ) : null}
      <MessageList
        messages={state.conversation.messages}
        busy={busy}
        hasMore={state.conversation.hasMore}
        loading={state.messagesLoading}
        modelLoading={modelLoading}
        rendermime={services.rendermime}
        actions={services.actions}
        onLoadOlder={() => void store.loadOlder()}
        empty={empty}
      />
      {state.notice ? (
        <div className={`jp-ChatExt-notice jp-ChatExt-notice-${state.notice.kind}`} role={state.notice.kind === 'error' ? 'alert' : 'status'}>
          <span>{state.notice.text}</span>
          <button type="button" className="jp-ChatExt-iconButton" aria-label="Dismiss" title="Dismiss" onClick={() => store.setNotice(null)}>
            <closeIcon.react tag="span" className="jp-ChatExt-icon" />
          </button>
        </div>
      ) : null}
      <Composer
        text={state.composer}
        onText={t => store.setComposer(t)}
        busy={busy}
        disabled={state.health.state !== 'ok'}
        focusRequest={state.focusRequest}
        contextKind={state.contextKind}
        onContextKind={k => store.setContextKind(k)}
        hasNotebook={state.hasNotebook}
        collections={state.collections}
        collection={state.collection}
        onCollection={c => store.setCollection(c)}
        onSend={text => {
          store.setComposer('');
          void store.send(text);
        }}
        onStop={() => store.stop()}
      />
    </div>
  );
}

function SessionItem(props: { session: Session; current: boolean; services: PanelServices }): JSX.Element {
  const s = props.session;
  const store = props.services.store;
  const meta = [formatWhen(s.updated_at), s.model, `${s.message_count} msg`, sessionTokens(s) ? `${sessionTokens(s)} tokens` : '']
    .filter(Boolean)
    .join(' · ');
  const exportAs = async (format: 'markdown' | 'json') => {
    const { text, filename } = await store.exportSession(s.id, format);
    props.services.download(text, filename, format === 'json' ? 'application/json' : 'text/markdown');
  };
  return (
    <li className={`jp-ChatExt-session${props.current ? ' jp-mod-current' : ''}`} data-session-id={s.id}>
      <button type="button" className="jp-ChatExt-sessionOpen" onClick={() => void store.openSession(s.id)} aria-current={props.current}>
        <span className="jp-ChatExt-sessionTitle">
          {s.pinned ? <pinIcon.react tag="span" className="jp-ChatExt-icon jp-ChatExt-pinned" title="Pinned" /> : null}
          {sessionTitle(s)}
        </span>
        <span className="jp-ChatExt-sessionMeta">{meta}</span>
      </button>
      <div className="jp-ChatExt-sessionActions">
        <button type="button" className={`jp-ChatExt-iconButton${s.pinned ? ' jp-mod-active' : ''}`} title={s.pinned ? 'Unpin' : 'Pin'} aria-label={s.pinned ? 'Unpin' : 'Pin'} onClick={() => void store.togglePin(s)}>
          <pinIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
        <button
          type="button"
          className="jp-ChatExt-iconButton"
          title="Rename"
          aria-label="Rename"
          onClick={async () => {
            const r = await InputDialog.getText({ title: 'Rename chat', text: s.title ?? '', okLabel: 'Rename' });
            if (r.button.accept && r.value !== null && r.value.trim()) {
              void store.renameSession(s.id, r.value.trim());
            }
          }}
        >
          <editIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
        <button type="button" className="jp-ChatExt-iconButton jp-ChatExt-textButton" title="Export as Markdown" aria-label="Export as Markdown" onClick={() => void exportAs('markdown')}>
          MD
        </button>
        <button type="button" className="jp-ChatExt-iconButton jp-ChatExt-textButton" title="Export as JSON (re-importable)" aria-label="Export as JSON" onClick={() => void exportAs('json')}>
          JSON
        </button>
        <button
          type="button"
          className="jp-ChatExt-iconButton"
          title="Delete"
          aria-label="Delete chat"
          onClick={async () => {
            const r = await showDialog({
              title: 'Delete chat',
              body: `Delete “${sessionTitle(s)}” and its ${s.message_count} messages? This cannot be undone.`,
              buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
            });
            if (r.button.accept) {
              void store.deleteSession(s.id);
            }
          }}
        >
          <deleteIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
      </div>
    </li>
  );
}

function HistoryView(props: { state: ChatState; services: PanelServices }): JSX.Element {
  const { state, services } = props;
  const store = services.store;
  const [q, setQ] = useState(state.query);
  const file = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const t = setTimeout(() => {
      if (q !== state.query) {
        void store.refreshSessions(q);
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
              void store.refreshSessions(q);
            }
          }}
        />
        <button type="button" className="jp-ChatExt-iconButton" title="Import a JSON export" aria-label="Import chat" onClick={() => file.current?.click()}>
          <fileUploadIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
        <button type="button" className="jp-ChatExt-iconButton" title="Refresh" aria-label="Refresh" onClick={() => void store.refreshSessions(q)}>
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
              await store.importSession(await f.text());
            }
          }}
        />
      </div>
      <div className="jp-ChatExt-listInfo" role="status">
        {state.sessionsLoading ? 'Searching…' : q.trim() ? `${state.sessionsTotal} chats match “${q.trim()}”` : `${state.sessionsTotal} chats`}
      </div>
      {state.notice ? (
        <div className={`jp-ChatExt-notice jp-ChatExt-notice-${state.notice.kind}`} role="alert">
          <span>{state.notice.text}</span>
        </div>
      ) : null}
      <ul className="jp-ChatExt-sessions" aria-label="Chats">
        {state.sessions.map(s => (
          <SessionItem key={s.id} session={s} current={state.current?.id === s.id} services={services} />
        ))}
      </ul>
    </div>
  );
}

function CollectionsView(props: { state: ChatState; services: PanelServices }): JSX.Element {
  const { state, services } = props;
  const store = services.store;
  const [name, setName] = useState('');
  return (
    <div className="jp-ChatExt-view" role="tabpanel" aria-labelledby="jp-ChatExt-tab-collections">
      <form
        className="jp-ChatExt-searchRow"
        onSubmit={async e => {
          e.preventDefault();
          if (name.trim() && (await store.createCollection(name))) {
            setName('');
          }
        }}
      >
        <input
          className="jp-ChatExt-inputField jp-ChatExt-search"
          aria-label="New collection name"
          placeholder="New collection name"
          value={name}
          onChange={e => setName(e.target.value)}
        />
        <button type="submit" className="jp-ChatExt-button jp-mod-styled jp-mod-accept" disabled={!name.trim()}>
          Create
        </button>
      </form>
      <p className="jp-ChatExt-hint">
        Add files or folders: right-click them in the file browser → <em>Add to chat collection</em>. Then pick the collection under the message box.
      </p>
      {state.notice ? (
        <div className={`jp-ChatExt-notice jp-ChatExt-notice-${state.notice.kind}`} role="alert">
          <span>{state.notice.text}</span>
        </div>
      ) : null}
      {state.jobs.length ? (
        <ul className="jp-ChatExt-jobs" aria-label="Ingest jobs">
          {state.jobs.map(j => (
            <li key={j.id} className="jp-ChatExt-job" data-state={j.state}>
              <div>
                <strong>{j.collection}</strong> · {j.state} · {j.files_done}/{j.files_total} files · {j.chunks} chunks
                {j.skipped?.length ? ` · ${j.skipped.length} skipped` : ''}
              </div>
              {j.state === 'running' || j.state === 'queued' ? (
                <progress className="jp-ChatExt-progress" max={Math.max(1, j.files_total)} value={j.files_done} aria-label={`Ingesting into ${j.collection}`} />
              ) : null}
              {j.error ? <div className="jp-ChatExt-error">{j.error}</div> : null}
              {j.skipped?.length ? (
                <details>
                  <summary>Skipped files</summary>
                  <ul>
                    {j.skipped.map((s, i) => (
                      <li key={i}>
                        {s.path}: {s.reason}
                      </li>
                    ))}
                  </ul>
                </details>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      <ul className="jp-ChatExt-sessions" aria-label="Collections">
        {state.collections.length === 0 ? <li className="jp-ChatExt-hint">No collections yet.</li> : null}
        {state.collections.map(c => (
          <li key={c.name} className={`jp-ChatExt-session${state.collection === c.name ? ' jp-mod-current' : ''}`}>
            <button
              type="button"
              className="jp-ChatExt-sessionOpen"
              title="Use this collection in the chat"
              onClick={() => {
                store.setCollection(c.name);
                store.setView('chat');
              }}
            >
              <span className="jp-ChatExt-sessionTitle">📚 {c.name}</span>
              <span className="jp-ChatExt-sessionMeta">
                {c.documents} documents · {c.chunks} chunks · {formatBytes(c.size_bytes)}
                {c.embedding_model ? ` · ${c.embedding_model}` : ''}
              </span>
            </button>
            <div className="jp-ChatExt-sessionActions">
              <button
                type="button"
                className="jp-ChatExt-iconButton"
                title="Delete collection"
                aria-label={`Delete collection ${c.name}`}
                onClick={async () => {
                  const r = await showDialog({
                    title: 'Delete collection',
                    body: `Delete the collection “${c.name}” and its index? The files themselves stay.`,
                    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
                  });
                  if (r.button.accept) {
                    void store.deleteCollection(c.name);
                  }
                }}
              >
                <deleteIcon.react tag="span" className="jp-ChatExt-icon" />
              </button>
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}

function ChatApp(props: { services: PanelServices }): JSX.Element {
  const store = props.services.store;
  const state = useChatState(store);
  return (
    <div className="jp-ChatExt-root" data-health={state.health.state} data-busy={store.streaming}>
      <Tabs view={state.view} onView={v => store.setView(v)} onNew={() => store.newChat()} />
      <Banner state={state} store={store} />
      {state.view === 'chat' ? <ChatView state={state} services={props.services} /> : null}
      {state.view === 'history' ? <HistoryView state={state} services={props.services} /> : null}
      {state.view === 'collections' ? <CollectionsView state={state} services={props.services} /> : null}
    </div>
  );
}

export class ChatPanel extends ReactWidget {
  constructor(readonly services: PanelServices) {
    super();
    this.id = 'jupyter-chat-ext-panel';
    this.addClass('jp-ChatExt');
    this.title.icon = chatIcon;
    this.title.caption = 'Chat';
  }

  render(): JSX.Element {
    return (
      <ErrorBoundary>
        <ChatApp services={this.services} />
      </ErrorBoundary>
    );
  }

  /** Activation (sidebar click, commands) puts the cursor in the message box. */
  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    const box = this.node.querySelector<HTMLTextAreaElement>('textarea[aria-label="Message"]');
    if (box && !this.node.contains(document.activeElement)) {
      box.focus();
    }
  }
}

/** A failure in one view must not blank the sidebar: show it and offer a way back. */
class ErrorBoundary extends React.Component<{ children: React.ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };

  static getDerivedStateFromError(error: Error): { error: Error } {
    return { error };
  }

  componentDidCatch(error: Error): void {
    console.error('jupyter-chat-ext: the chat view failed', error);
  }

  render(): React.ReactNode {
    if (this.state.error) {
      return (
        <div className="jp-ChatExt-banner" role="alert">
          <strong>The chat view failed.</strong> <span>{String(this.state.error.message ?? this.state.error)}</span>
          <button type="button" className="jp-ChatExt-button jp-mod-styled" onClick={() => this.setState({ error: null })}>
            Show it again
          </button>
        </div>
      );
    }
    return this.props.children;
  }
}
