import { buildIcon, infoIcon, stopIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useRef } from 'react';

import { ContextKind } from '../context';
import { Attachments } from '../context/attachments';
import { ComposerChips, useMentions } from '../context/mention';
import { sendIcon } from '../icons';
import { ToolsHint } from '../toolsHint';
import { Collection } from '../types';

/**
 * Grow the box with its text, up to a limit (CSS max-height scrolls beyond). A hidden box (no
 * width: the panel or one of its parents is display:none) measures a scrollHeight of 0, and the
 * inline `height: 0px` that made would collapse it to a slit once shown (issue 20): then the
 * inline height is dropped so the `rows` height applies until the box can be measured.
 */
export function fitHeight(el: HTMLTextAreaElement): void {
  if (!el.isConnected || el.clientWidth === 0) {
    el.style.height = '';
    return;
  }
  el.style.height = 'auto';
  el.style.height = `${Math.min(el.scrollHeight, 240)}px`;
}

export function Composer(props: {
  text: string;
  onText: (text: string) => void;
  busy: boolean;
  disabled: boolean;
  focusRequest: number;
  contextKind: ContextKind;
  onContextKind: (k: ContextKind) => void;
  hasNotebook: boolean;
  collections: Collection[];
  collection: string;
  onCollection: (name: string) => void;
  /** agent turns: the model may call tools (notebook tools when a notebook is open) */
  toolsOn?: boolean;
  onToolsOn?: (on: boolean) => void;
  /** the chosen model's chance of calling tools (GET models `tools_hint`; absent: unknown) */
  toolsHint?: ToolsHint | null;
  /** open the Models view (to pick a model that calls tools) */
  onOpenModels?: () => void;
  onSend: (text: string) => void;
  onStop: () => void;
  /** @-context: items attached with `@file:` / `@cell` / `@var:` (chips) */
  attachments?: Attachments;
}): JSX.Element {
  const ref = useRef<HTMLTextAreaElement>(null);
  const mentions = useMentions(props.attachments, props.text, props.onText, ref);
  // A request to focus (a command, "send selection") can come while the box is still disabled
  // (the server is being reached after a page load): keep it until the box can take focus.
  const focusPending = useRef(false);
  useEffect(() => {
    if (props.focusRequest > 0) {
      focusPending.current = true;
    }
  }, [props.focusRequest]);
  useEffect(() => {
    const el = ref.current;
    if (focusPending.current && el && !props.disabled) {
      focusPending.current = false;
      el.focus();
      el.setSelectionRange(el.value.length, el.value.length);
    }
  }, [props.focusRequest, props.disabled]);
  useEffect(() => {
    if (ref.current) {
      fitHeight(ref.current);
    }
  }, [props.text]);
  useEffect(() => {
    // the sidebar may be hidden when the text changes (a restored layout, another tab in front):
    // measure again when the box gets its width back (shown), never while it has none
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') {
      return;
    }
    let width = el.clientWidth;
    const obs = new ResizeObserver(() => {
      if (el.clientWidth !== width) {
        width = el.clientWidth;
        fitHeight(el);
      }
    });
    obs.observe(el);
    return () => obs.disconnect();
  }, []);
  const send = () => {
    if (!props.busy && !props.disabled && props.text.trim()) {
      props.onSend(props.text);
    }
  };
  return (
    <div className="jp-ChatExt-composer">
      {props.attachments ? <ComposerChips attachments={props.attachments} /> : null}
      {mentions.menu}
      <textarea
        ref={ref}
        className="jp-ChatExt-textarea jp-ChatExt-input"
        aria-label="Message"
        placeholder="Ask anything. Enter sends, Shift+Enter adds a line, @ attaches a file, cell or variable."
        rows={2}
        value={props.text}
        disabled={props.disabled}
        onChange={e => {
          props.onText(e.target.value);
          mentions.onSelect(e);
        }}
        onSelect={mentions.onSelect}
        onKeyDown={e => {
          if (mentions.onKeyDown(e)) {
            return;
          }
          if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            send();
          } else if (e.key === 'Escape' && props.busy) {
            e.preventDefault();
            props.onStop();
          }
        }}
      />
      <div className="jp-ChatExt-composerBar">
        <select
          className="jp-ChatExt-select"
          aria-label="Include notebook context"
          title="Send the active cell or the whole notebook along with the question"
          value={props.contextKind}
          onChange={e => props.onContextKind(e.target.value as ContextKind)}
        >
          <option value="none">No context</option>
          <option value="cell" disabled={!props.hasNotebook}>
            + active cell
          </option>
          <option value="notebook" disabled={!props.hasNotebook}>
            + notebook
          </option>
        </select>
        <select
          className="jp-ChatExt-select"
          aria-label="Retrieval collection"
          title="Answer from the documents of a collection (RAG)"
          value={props.collection}
          onChange={e => props.onCollection(e.target.value)}
        >
          <option value="">No documents</option>
          {props.collections.length ? (
            <optgroup label="Answer from the collection">
              {props.collections.map(c => (
                <option key={c.name} value={c.name}>
                  {c.name}
                </option>
              ))}
            </optgroup>
          ) : null}
        </select>
        {props.onToolsOn ? (
          <button
            type="button"
            className={`jp-ChatExt-toggle${props.toolsOn ? ' jp-mod-active' : ''}`}
            aria-pressed={!!props.toolsOn}
            aria-label="Tools"
            title={
              props.toolsOn
                ? 'Tools on: the model may read, edit and run cells of the open notebook (edits and runs ask first)'
                : 'Let the model call tools (notebook cells, files, MCP servers)'
            }
            onClick={() => props.onToolsOn?.(!props.toolsOn)}
          >
            <buildIcon.react tag="span" className="jp-ChatExt-icon" />
            Tools
          </button>
        ) : null}
        {props.onToolsOn && props.toolsOn && props.toolsHint && !props.toolsHint.likely ? (
          <span className="jp-ChatExt-toolsHint" role="note" title={props.toolsHint.reason}>
            <infoIcon.react tag="span" className="jp-ChatExt-icon" />
            <span className="jp-ChatExt-toolsHintText">may not call tools</span>
            {props.onOpenModels ? (
              <button type="button" className="jp-ChatExt-linkButton" aria-label="Choose a model that calls tools" onClick={props.onOpenModels}>
                Models
              </button>
            ) : null}
          </span>
        ) : null}
        <span className="jp-ChatExt-spacer" />
        {props.busy ? (
          <button type="button" className="jp-ChatExt-sendButton jp-ChatExt-stop" title="Stop (Escape)" aria-label="Stop generating" onClick={props.onStop}>
            <stopIcon.react tag="span" className="jp-ChatExt-icon" />
          </button>
        ) : (
          <button
            type="button"
            className="jp-ChatExt-sendButton"
            title="Send (Enter)"
            aria-label="Send message"
            disabled={props.disabled || !props.text.trim()}
            onClick={send}
          >
            <sendIcon.react tag="span" className="jp-ChatExt-icon" />
          </button>
        )}
      </div>
    </div>
  );
}
