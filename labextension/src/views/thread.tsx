/** The Chat tab: title bar, model bar, options, the messages of the open chat and the composer. */
import React, { useEffect, useMemo, useState } from 'react';

import { chatIcon } from '../icons';
import { ChatState } from '../store';
import { claimedCalls, resultsByCall } from '../store/tools';
import { threadItems } from '../versions';
import { toolsHintOf } from '../toolsHint';
import { Composer } from './composer';
import { ChatHeader, ModelBar } from './header';
import { MessageList } from './messages';
import { NoticeBar } from './notice';
import { OptionsPanel } from './options';
import type { PanelServices } from './panel';

const EMPTY = (
  <div className="jp-ChatExt-empty">
    <chatIcon.react tag="div" className="jp-ChatExt-emptyIcon" />
    <p>Ask a question about your code, your notebook or your documents.</p>
    <p className="jp-ChatExt-hint">Enter sends · Shift+Enter adds a line · answers stay on this machine.</p>
  </div>
);

export function ChatView(props: { state: ChatState; services: PanelServices }): JSX.Element {
  const { state, services } = props;
  const store = services.store;
  const [optionsOpen, setOptionsOpen] = useState(false);
  const session = state.current;
  const busy = state.streaming;
  const effective = store.effectiveModel;
  const modelInfo = state.models.find(m => m.id === effective);
  const modelLoading = busy && modelInfo && modelInfo.state !== 'loaded' ? effective : null;
  useEffect(() => {
    // the first turn may load the model: show its progress while we wait
    if (modelLoading) {
      void store.catalog.refreshModels();
      const t = setInterval(() => void store.catalog.refreshModels(), 1000);
      return () => clearInterval(t);
    }
  }, [modelLoading]);
  // the branch switch (‹ i/n › on an edited question) belongs to the thread
  const actions = useMemo(() => ({ ...services.actions, switchBranch: (id: number) => void store.thread.switchBranch(id) }), [services.actions]);
  const items = useMemo(() => threadItems(state.conversation.messages, state.versions), [state.conversation.messages, state.versions]);
  const messages = state.conversation.messages;
  const tools = useMemo(
    () => ({
      results: resultsByCall(messages),
      claimed: claimedCalls(messages),
      live: state.toolCalls,
      decide: (callId: string, d: 'approve' | 'always' | 'deny') => void store.tools.decide(callId, d)
    }),
    [messages, state.toolCalls]
  );
  return (
    <div className="jp-ChatExt-view" role="tabpanel" aria-labelledby="jp-ChatExt-tab-chat">
      <ChatHeader state={state} store={store} download={services.download} optionsOpen={optionsOpen} onToggleOptions={() => setOptionsOpen(!optionsOpen)} />
      <ModelBar state={state} store={store} />
      {optionsOpen ? (
        <OptionsPanel
          key={session?.id ?? 'draft'}
          systemPrompt={session ? session.system_prompt : state.draft.system_prompt}
          params={(session ? session.params : state.draft.params) ?? {}}
          defaults={store.defaults}
          onSave={(p, params) => void store.thread.saveOptions(p, params)}
          onClose={() => setOptionsOpen(false)}
        />
      ) : null}
      <MessageList
        items={items}
        ownStreamId={state.conversation.streamingId}
        busy={busy}
        hasMore={state.conversation.hasMore}
        loading={state.messagesLoading}
        modelLoading={modelLoading}
        retry={state.retry}
        rendermime={services.rendermime}
        actions={actions}
        tools={tools}
        onLoadOlder={() => void store.thread.loadOlder()}
        empty={EMPTY}
      />
      <NoticeBar notice={state.notice} onDismiss={() => store.setNotice(null)} />
      <Composer
        attachments={store.attachments ?? undefined}
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
        onCollection={c => store.catalog.setCollection(c)}
        toolsOn={state.toolsOn}
        onToolsOn={on => store.tools.setOn(on)}
        toolsHint={toolsHintOf(modelInfo)}
        onOpenModels={() => store.setView('models')}
        onSend={text => {
          store.setComposer('');
          void store.send(text);
        }}
        onStop={() => store.stop()}
      />
    </div>
  );
}
