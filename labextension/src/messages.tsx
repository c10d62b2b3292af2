import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { copyIcon, deleteIcon, editIcon, refreshIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useLayoutEffect, useRef, useState } from 'react';

import { splitContext } from './context';
import { errorText } from './conversation';
import { citationLabel, formatMetrics } from './format';
import { CodeActions, Markdown } from './markdown';
import { Citation, Message } from './types';

export interface MessageActions extends CodeActions {
  copyMessage(m: Message): void;
  regenerate(): void;
  editAndResend(id: number, content: string): void;
  remove(id: number): void;
  openCitation(c: Citation): void;
}

function Citations(props: { citations: Citation[]; open: (c: Citation) => void }): JSX.Element {
  return (
    <div className="jp-ChatExt-citations" aria-label="Sources">
      <span className="jp-ChatExt-citationsLabel">Sources</span>
      {props.citations.map((c, i) => (
        <button
          key={i}
          type="button"
          className="jp-ChatExt-citation"
          title={`${c.source}${typeof c.score === 'number' ? ` (score ${c.score.toFixed(3)})` : ''}\n\n${(c.text ?? '').slice(0, 400)}`}
          onClick={() => props.open(c)}
        >
          <span className="jp-ChatExt-citationIndex">{i + 1}</span>
          {citationLabel(c)}
        </button>
      ))}
    </div>
  );
}

function EditBox(props: { initial: string; onSave: (text: string) => void; onCancel: () => void }): JSX.Element {
  const [text, setText] = useState(props.initial);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <div className="jp-ChatExt-edit">
      <textarea
        ref={ref}
        className="jp-ChatExt-textarea"
        aria-label="Edit message"
        value={text}
        rows={Math.min(10, text.split('\n').length + 1)}
        onChange={e => setText(e.target.value)}
        onKeyDown={e => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            props.onSave(text);
          } else if (e.key === 'Escape') {
            props.onCancel();
          }
        }}
      />
      <div className="jp-ChatExt-editButtons">
        <button type="button" className="jp-ChatExt-button jp-mod-styled" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" className="jp-ChatExt-button jp-mod-styled jp-mod-accept" onClick={() => props.onSave(text)}>
          Save &amp; resend
        </button>
      </div>
    </div>
  );
}

function UserText(props: { content: string }): JSX.Element {
  const parts = splitContext(props.content);
  if (!parts) {
    return <div className="jp-ChatExt-userText">{props.content}</div>;
  }
  return (
    <div className="jp-ChatExt-userText">
      <details className="jp-ChatExt-context">
        <summary>With {parts.label}</summary>
        <pre>{parts.context}</pre>
      </details>
      {parts.question}
    </div>
  );
}

function MessageItem(props: {
  message: Message;
  isLast: boolean;
  busy: boolean;
  modelLoading: string | null;
  rendermime: IRenderMimeRegistry;
  actions: MessageActions;
}): JSX.Element {
  const m = props.message;
  const [editing, setEditing] = useState(false);
  const streaming = m.status === 'streaming';
  const err = errorText(m);
  const citations = m.metadata?.citations ?? [];
  const metrics = m.role === 'assistant' ? formatMetrics(m.metrics) : '';
  return (
    <div
      className={`jp-ChatExt-message jp-ChatExt-message-${m.role}`}
      data-status={m.status}
      data-message-id={m.id}
      aria-busy={streaming}
    >
      <div className="jp-ChatExt-messageRole">{m.role === 'user' ? 'You' : m.model ?? 'Assistant'}</div>
      {editing ? (
        <EditBox
          initial={m.content}
          onCancel={() => setEditing(false)}
          onSave={text => {
            setEditing(false);
            props.actions.editAndResend(m.id, text);
          }}
        />
      ) : m.role === 'user' ? (
        <UserText content={m.content} />
      ) : (
        <>
          {m.content ? (
            <Markdown text={m.content} rendermime={props.rendermime} streaming={streaming} actions={props.actions} />
          ) : null}
          {streaming && !m.content ? (
            <div className="jp-ChatExt-waiting" role="status">
              <span className="jp-ChatExt-dots" aria-hidden="true">
                <span />
                <span />
                <span />
              </span>
              {props.modelLoading ? `Loading ${props.modelLoading}… the first load can take a while` : 'Thinking…'}
            </div>
          ) : null}
        </>
      )}
      {citations.length ? <Citations citations={citations} open={props.actions.openCitation} /> : null}
      {m.status === 'interrupted' ? <div className="jp-ChatExt-badge">Stopped</div> : null}
      {m.status === 'error' ? (
        <div className="jp-ChatExt-error" role="alert">
          {err ?? 'The answer failed.'}
        </div>
      ) : null}
      {metrics && !streaming ? <div className="jp-ChatExt-metrics">{metrics}</div> : null}
      {!streaming && !editing ? (
        <div className="jp-ChatExt-messageActions">
          <button type="button" className="jp-ChatExt-iconButton" title="Copy message" aria-label="Copy message" onClick={() => props.actions.copyMessage(m)}>
            <copyIcon.react tag="span" className="jp-ChatExt-icon" />
          </button>
          {m.role === 'user' && m.id > 0 ? (
            <button type="button" className="jp-ChatExt-iconButton" title="Edit and resend" aria-label="Edit and resend" disabled={props.busy} onClick={() => setEditing(true)}>
              <editIcon.react tag="span" className="jp-ChatExt-icon" />
            </button>
          ) : null}
          {m.role === 'assistant' && props.isLast ? (
            <button type="button" className="jp-ChatExt-iconButton" title="Regenerate" aria-label="Regenerate" disabled={props.busy} onClick={props.actions.regenerate}>
              <refreshIcon.react tag="span" className="jp-ChatExt-icon" />
            </button>
          ) : null}
          {m.id > 0 ? (
            <button type="button" className="jp-ChatExt-iconButton" title="Delete message" aria-label="Delete message" disabled={props.busy} onClick={() => props.actions.remove(m.id)}>
              <deleteIcon.react tag="span" className="jp-ChatExt-icon" />
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

export function MessageList(props: {
  messages: Message[];
  busy: boolean;
  hasMore: boolean;
  loading: boolean;
  modelLoading: string | null;
  rendermime: IRenderMimeRegistry;
  actions: MessageActions;
  onLoadOlder: () => void;
  empty: JSX.Element;
}): JSX.Element {
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) {
      el.scrollTop = el.scrollHeight;
    }
  });
  useEffect(() => {
    // Rendered markdown grows after React's commit (async rendering): keep following it.
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') {
      return;
    }
    const obs = new ResizeObserver(() => {
      if (stick.current) {
        el.scrollTop = el.scrollHeight;
      }
    });
    for (const child of Array.from(el.children)) {
      obs.observe(child);
    }
    return () => obs.disconnect();
  });
  const last = props.messages[props.messages.length - 1];
  return (
    <div
      ref={ref}
      className="jp-ChatExt-messages"
      role="log"
      aria-live="polite"
      aria-label="Chat messages"
      tabIndex={0}
      onScroll={e => {
        const el = e.currentTarget;
        stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      }}
    >
      {props.hasMore ? (
        <button type="button" className="jp-ChatExt-linkButton" onClick={props.onLoadOlder}>
          Load earlier messages
        </button>
      ) : null}
      {props.loading ? <div className="jp-ChatExt-hint">Loading…</div> : null}
      {!props.loading && props.messages.length === 0 ? props.empty : null}
      <div className="jp-ChatExt-messageColumn">
        {props.messages.map(m => (
          <MessageItem
            key={m.id}
            message={m}
            isLast={m === last}
            busy={props.busy}
            modelLoading={props.modelLoading}
            rendermime={props.rendermime}
            actions={props.actions}
          />
        ))}
      </div>
    </div>
  );
}
