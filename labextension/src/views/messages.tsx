import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { caretLeftIcon, caretRightIcon, copyIcon, deleteIcon, editIcon, refreshIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useLayoutEffect, useRef, useState } from 'react';

import { splitContext } from '../context';
import { contextOf } from '../context/items';
import { SentContext } from '../context/mention';
import { errorText } from '../conversation';
import { citationLabel, formatMetrics } from '../format';
import { RetryNotice } from '../store/state';
import type { Decision, LiveCall } from '../store/tools';
import { Citation, Message } from '../types';
import { BranchInfo, branchOf, ThreadItem, VersionInfo } from '../versions';
import { CodeActions, Markdown } from './markdown';
import { ToolCallRow, ToolResultRow } from './toolCall';

/** What the thread needs to show tool calls: results by call id, the live calls, the answer. */
export interface ToolView {
  results: Map<string, Message>;
  /** call ids an assistant row of the thread carries (their result rows are not shown alone) */
  claimed: Set<string>;
  live: Record<string, LiveCall>;
  decide(callId: string, d: Decision): void;
}

export interface MessageActions extends CodeActions {
  copyMessage(m: Message): void;
  regenerate(): void;
  continueAnswer(id: number): void;
  chooseVersion(parentId: number, messageId: number): void;
  editAndResend(id: number, content: string): void;
  remove(id: number): void;
  openCitation(c: Citation): void;
  /** show the branch of another edit of a question (‹ i/n › on it) */
  switchBranch?(messageId: number): void;
}

/** ‹ 2/3 ›: page through the answers a turn has had (regenerate keeps the earlier ones). */
function Versions(props: { message: Message; versions: VersionInfo; busy: boolean; choose: (parentId: number, id: number) => void }): JSX.Element {
  const { message: m, versions: v } = props;
  const go = (id: number | null) => {
    if (id !== null && m.parent_id !== null) {
      props.choose(m.parent_id, id);
    }
  };
  return (
    <span className="jp-ChatExt-versions" role="group" aria-label="Answer versions">
      <button type="button" className="jp-ChatExt-iconButton" title="Previous answer" aria-label="Previous answer" disabled={v.prev === null || props.busy} onClick={() => go(v.prev)}>
        <caretLeftIcon.react tag="span" className="jp-ChatExt-icon" />
      </button>
      <span className="jp-ChatExt-versionLabel" aria-live="polite">
        {v.index}/{v.count}
      </span>
      <button type="button" className="jp-ChatExt-iconButton" title="Next answer" aria-label="Next answer" disabled={v.next === null || props.busy} onClick={() => go(v.next)}>
        <caretRightIcon.react tag="span" className="jp-ChatExt-icon" />
      </button>
    </span>
  );
}

/** ‹ 2/3 › on a question: page through its edits, each with the conversation that followed it. */
function Branches(props: { branch: BranchInfo; busy: boolean; go: (id: number) => void }): JSX.Element {
  const b = props.branch;
  return (
    <span className="jp-ChatExt-versions jp-ChatExt-branches" role="group" aria-label="Branches">
      <button
        type="button"
        className="jp-ChatExt-iconButton"
        title="Previous branch (an earlier edit of this message)"
        aria-label="Previous branch"
        disabled={b.prev === null || props.busy}
        onClick={() => b.prev !== null && props.go(b.prev)}
      >
        <caretLeftIcon.react tag="span" className="jp-ChatExt-icon" />
      </button>
      <span className="jp-ChatExt-versionLabel" aria-live="polite">
        {b.index}/{b.count}
      </span>
      <button
        type="button"
        className="jp-ChatExt-iconButton"
        title="Next branch (a later edit of this message)"
        aria-label="Next branch"
        disabled={b.next === null || props.busy}
        onClick={() => b.next !== null && props.go(b.next)}
      >
        <caretRightIcon.react tag="span" className="jp-ChatExt-icon" />
      </button>
    </span>
  );
}

/** "Busy, retrying in 3 s (try 1 of 3)", counting down. */
function RetryCountdown(props: { retry: RetryNotice }): JSX.Element {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [props.retry]);
  const left = Math.max(0, Math.ceil((props.retry.until - now) / 1000));
  return (
    <span className="jp-ChatExt-retry" title={props.retry.message}>
      Busy, retrying in {left} s (try {props.retry.attempt} of {props.retry.max})
    </span>
  );
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

function Waiting(props: { remote: boolean; modelLoading: string | null; retry: RetryNotice | null }): JSX.Element {
  let text: React.ReactNode = 'Thinking…';
  if (props.remote) {
    text = 'Being written in another window…';
  } else if (props.retry) {
    text = <RetryCountdown retry={props.retry} />;
  } else if (props.modelLoading) {
    text = `Loading ${props.modelLoading}… the first load can take a while`;
  }
  return (
    <div className="jp-ChatExt-waiting" role="status">
      <span className="jp-ChatExt-dots" aria-hidden="true">
        <span />
        <span />
        <span />
      </span>
      {text}
    </div>
  );
}

function MessageItem(props: {
  message: Message;
  versions: VersionInfo | null;
  isLast: boolean;
  /** this page is writing this answer (else a "streaming" status means another client is) */
  own: boolean;
  busy: boolean;
  modelLoading: string | null;
  retry: RetryNotice | null;
  rendermime: IRenderMimeRegistry;
  actions: MessageActions;
  tools: ToolView;
}): JSX.Element {
  const m = props.message;
  const [editing, setEditing] = useState(false);
  const calls = m.role === 'assistant' ? (m.metadata?.tool_calls ?? []) : [];
  const streaming = m.status === 'streaming';
  const remote = streaming && !props.own;
  const err = errorText(m);
  const citations = m.metadata?.citations ?? [];
  const metrics = m.role === 'assistant' ? formatMetrics(m.metrics) : '';
  const branch = branchOf(m);
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
        <>
          {contextOf(m.metadata).length ? <SentContext context={contextOf(m.metadata)} /> : null}
          <UserText content={m.content} />
        </>
      ) : (
        <>
          {m.content ? (
            <Markdown
              text={m.content}
              rendermime={props.rendermime}
              streaming={streaming}
              actions={props.actions}
              citations={citations.length}
              onCite={i => citations[i] && props.actions.openCitation(citations[i])}
            />
          ) : null}
          {calls.map(c => (
            <ToolCallRow key={c.id} call={c} result={props.tools.results.get(c.id)} live={props.tools.live[c.id]} onDecide={props.tools.decide} />
          ))}
          {streaming && ((!m.content && !calls.length) || remote) ? <Waiting remote={remote} modelLoading={props.modelLoading} retry={props.own ? props.retry : null} /> : null}
        </>
      )}
      {citations.length ? <Citations citations={citations} open={props.actions.openCitation} /> : null}
      {m.status === 'interrupted' ? (
        <div className="jp-ChatExt-stopped">
          <span className="jp-ChatExt-badge">Stopped</span>
          {m.id > 0 ? (
            <button
              type="button"
              className="jp-ChatExt-button jp-mod-styled"
              title="Generate the rest of this answer"
              aria-label="Continue answer"
              disabled={props.busy}
              onClick={() => props.actions.continueAnswer(m.id)}
            >
              Continue
            </button>
          ) : null}
        </div>
      ) : null}
      {m.status === 'error' ? (
        <div className="jp-ChatExt-error" role="alert">
          {err ?? 'The answer failed.'}
        </div>
      ) : null}
      {typeof m.metadata?.tool_note === 'string' && !streaming ? (
        <div className="jp-ChatExt-toolNote" role="note">
          {m.metadata.tool_note}
        </div>
      ) : null}
      {metrics && !streaming ? <div className="jp-ChatExt-metrics">{metrics}</div> : null}
      {branch && props.actions.switchBranch && !editing ? <Branches branch={branch} busy={props.busy} go={props.actions.switchBranch} /> : null}
      {props.versions && !editing ? <Versions message={m} versions={props.versions} busy={props.busy} choose={props.actions.chooseVersion} /> : null}
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
  items: ThreadItem[];
  /** id of the answer this page streams (null: none) */
  ownStreamId: number | null;
  busy: boolean;
  hasMore: boolean;
  loading: boolean;
  modelLoading: string | null;
  retry: RetryNotice | null;
  rendermime: IRenderMimeRegistry;
  actions: MessageActions;
  tools: ToolView;
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
  const last = props.items[props.items.length - 1]?.message;
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
      {!props.loading && props.items.length === 0 ? props.empty : null}
      <div className="jp-ChatExt-messageColumn">
        {props.items.map(({ message: m, versions }) =>
          m.role === 'tool' ? (
            props.tools.claimed.has(String(m.metadata?.tool_call_id)) ? null : <ToolResultRow key={m.id} message={m} />
          ) : (
            <MessageItem
              key={m.id}
              message={m}
              versions={versions}
              isLast={m === last}
              own={m.id === props.ownStreamId}
              busy={props.busy}
              modelLoading={props.modelLoading}
              retry={props.retry}
              rendermime={props.rendermime}
              actions={props.actions}
              tools={props.tools}
            />
          )
        )}
      </div>
    </div>
  );
}
