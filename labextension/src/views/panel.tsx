/** The sidebar widget: tabs (Chat, History, Documents) over one view at a time, and a safety net. */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import React, { useSyncExternalStore } from 'react';

import { chatIcon } from '../icons';
import { ModelsStore } from '../models/store';
import { ChatStore } from '../store';
import { CollectionsView } from './collections';
import { Banner, Tabs } from './header';
import { HistoryView } from './history';
import { MessageActions } from './messages';
import { ModelsView } from './models';
import { Download } from './sessionActions';
import { ChatView } from './thread';

export interface PanelServices {
  store: ChatStore;
  rendermime: IRenderMimeRegistry;
  actions: MessageActions;
  download: Download;
  openSettings(): void;
  /** the Models tab (model hub, roles, providers); absent in tests that do not need it */
  models?: ModelsStore;
}

function ChatApp(props: { services: PanelServices }): JSX.Element {
  const store = props.services.store;
  const state = useSyncExternalStore(store.subscribe, store.getState);
  return (
    <div className="jp-ChatExt-root" data-health={state.health.state} data-busy={state.streaming}>
      <Tabs view={state.view} onView={v => store.setView(v)} onNew={() => store.newChat()} />
      <Banner state={state} store={store} />
      {state.view === 'chat' ? <ChatView state={state} services={props.services} /> : null}
      {state.view === 'history' ? <HistoryView state={state} services={props.services} /> : null}
      {state.view === 'collections' ? <CollectionsView state={state} services={props.services} /> : null}
      {state.view === 'models' && props.services.models ? <ModelsView store={props.services.models} /> : null}
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
