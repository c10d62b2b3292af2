/** The top of the sidebar: the tabs, the health banner, the chat's title bar and the model bar. */
import { addIcon, settingsIcon } from '@jupyterlab/ui-components';
import React from 'react';

import { modelLabel, modelStateLabel, sessionTitle } from '../format';
import { ChatState, ChatStore, View } from '../store';
import { ModelInfo } from '../types';
import { Download, ExportButton, RenameButton } from './sessionActions';

export function Banner(props: { state: ChatState; store: ChatStore }): JSX.Element | null {
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

const TABS: [View, string][] = [
  ['chat', 'Chat'],
  ['history', 'History'],
  ['collections', 'Documents'],
  ['models', 'Models']
];

export function Tabs(props: { view: View; onView: (v: View) => void; onNew: () => void }): JSX.Element {
  return (
    <div className="jp-ChatExt-tabs">
      <div role="tablist" aria-label="Chat views" className="jp-ChatExt-tabList">
        {TABS.map(([v, label]) => (
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
              const i = TABS.findIndex(t => t[0] === props.view);
              if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                const next = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length][0];
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

/** The open chat's title with its actions, and the options toggle. */
export function ChatHeader(props: {
  state: ChatState;
  store: ChatStore;
  download: Download;
  optionsOpen: boolean;
  onToggleOptions: () => void;
}): JSX.Element {
  const session = props.state.current;
  const title = session ? sessionTitle(session) : 'New chat';
  return (
    <div className="jp-ChatExt-chatHeader">
      <span className="jp-ChatExt-chatTitle" title={title}>
        {title}
      </span>
      {session ? <RenameButton session={session} store={props.store} label="Rename chat" /> : null}
      {session ? <ExportButton session={session} store={props.store} download={props.download} format="markdown" icon /> : null}
      <button
        type="button"
        className={`jp-ChatExt-iconButton${props.optionsOpen ? ' jp-mod-active' : ''}`}
        title="System prompt and generation options"
        aria-label="Chat options"
        aria-expanded={props.optionsOpen}
        onClick={props.onToggleOptions}
      >
        <settingsIcon.react tag="span" className="jp-ChatExt-icon" />
      </button>
    </div>
  );
}

export function ModelBar(props: { state: ChatState; store: ChatStore }): JSX.Element {
  const { state, store } = props;
  const chatModels = state.models.filter(m => m.kind === 'chat');
  const busy = state.streaming;
  const info: ModelInfo | undefined = state.models.find(m => m.id === store.effectiveModel);
  const defaultLabel = state.health.defaultModel ? `Default (${state.health.defaultModel})` : 'Default model';
  return (
    <div className="jp-ChatExt-modelBar">
      <select
        className="jp-ChatExt-select jp-ChatExt-modelSelect"
        aria-label="Model"
        value={store.selectedModel}
        disabled={busy}
        onChange={e => void store.thread.selectModel(e.target.value)}
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
        <button type="button" className="jp-ChatExt-button jp-mod-styled" onClick={() => void store.catalog.loadModel(info.id)}>
          Load
        </button>
      ) : null}
      {info && info.state === 'loaded' ? (
        <button type="button" className="jp-ChatExt-button jp-mod-styled" disabled={busy} onClick={() => void store.catalog.unloadModel(info.id)}>
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
      <button
        type="button"
        className="jp-ChatExt-linkButton jp-ChatExt-moreModels"
        title="Find, pull and choose models; add providers (the Models tab)"
        onClick={() => store.setView('models')}
      >
        More models…
      </button>
      {state.modelsError ? <span className="jp-ChatExt-fieldError">{state.modelsError}</span> : null}
      {info?.state === 'error' && info.error ? <div className="jp-ChatExt-error">{info.error}</div> : null}
    </div>
  );
}
