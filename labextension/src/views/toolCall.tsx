/**
 * Tool calls in the thread (agent turns): one folded row per call (name and state; the arguments
 * and the result on click), and the approval card of a call that writes or executes.
 * Live calls come from the tools slice; stored ones from the assistant row's
 * `metadata.tool_calls` and the "tool" rows that hold their results.
 */
import { buildIcon } from '@jupyterlab/ui-components';
import React from 'react';

import type { Decision, LiveCall } from '../store/tools';
import { Message, ToolCall } from '../types';

/** Arguments as indented JSON when they parse, else as sent. */
export function prettyArguments(args: string): string {
  try {
    return JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    return args;
  }
}

/** A one-line preview of the arguments for the folded row. */
function argumentsPreview(args: string): string {
  const flat = args.replace(/\s+/g, ' ').trim();
  return flat.length > 60 ? `${flat.slice(0, 60)}…` : flat;
}

export type CallState = 'asking' | 'running' | 'done' | 'error' | 'denied' | 'timeout' | 'failed' | 'stopped' | 'none';

const LABELS: Record<CallState, string> = {
  asking: 'Needs approval',
  running: 'Running…',
  done: 'Done',
  error: 'Error',
  denied: 'Denied',
  timeout: 'Timed out',
  failed: 'Reply failed',
  stopped: 'Stopped',
  none: 'No result'
};

/** Where a call stands: its stored result decides; else the live call; else it never finished. */
export function callState(result: Message | undefined, live: LiveCall | undefined): CallState {
  if (result) {
    const approval = result.metadata?.approval;
    if (approval === 'denied') {
      return 'denied';
    }
    if (approval === 'timeout') {
      return 'timeout';
    }
    return result.metadata?.is_error ? 'error' : 'done';
  }
  switch (live?.phase) {
    case 'asking':
      return 'asking';
    case 'running':
    case 'replied':
    case 'done':
      return 'running';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'stopped';
  }
  return 'none';
}

const EFFECTS: Record<string, string> = {
  write: 'change',
  execute: 'run code in'
};

function ApprovalCard(props: { call: LiveCall; onDecide: (d: Decision) => void }): JSX.Element {
  const c = props.call;
  const what = EFFECTS[c.effect] ?? 'use';
  const where = c.executor === 'client' ? 'your notebook' : c.source.startsWith('mcp:') ? `the MCP server ${c.source.slice(4)}` : 'the server';
  return (
    <div className="jp-ChatExt-approval" role="group" aria-label={`Approve ${c.name}`} data-call-id={c.callId}>
      <div className="jp-ChatExt-approvalText">
        The assistant wants to {what} {where} with <code>{c.name}</code>.
      </div>
      <pre className="jp-ChatExt-toolPre">{prettyArguments(c.arguments)}</pre>
      <div className="jp-ChatExt-editButtons">
        <button type="button" className="jp-ChatExt-button jp-mod-styled jp-mod-reject" onClick={() => props.onDecide('deny')}>
          Deny
        </button>
        <button type="button" className="jp-ChatExt-button jp-mod-styled" title={`Never ask again for ${c.name} (Settings: toolAllowlist)`} onClick={() => props.onDecide('always')}>
          Always for this tool
        </button>
        <button type="button" className="jp-ChatExt-button jp-mod-styled jp-mod-accept" onClick={() => props.onDecide('approve')}>
          Approve once
        </button>
      </div>
    </div>
  );
}

/** One call: a folded row, and the approval card while the user is asked. */
export function ToolCallRow(props: {
  call: ToolCall;
  result?: Message;
  live?: LiveCall;
  onDecide: (callId: string, d: Decision) => void;
}): JSX.Element {
  const { call, result, live } = props;
  const state = callState(result, live);
  const name = call.function.name;
  const args = call.function.arguments;
  const approval = result?.metadata?.approval;
  const how = approval === 'always' ? ' (allow-listed)' : approval === 'approved' ? ' (approved)' : '';
  return (
    <div className="jp-ChatExt-toolCall" data-call-id={call.id} data-tool={name} data-state={state}>
      <details>
        <summary>
          <buildIcon.react tag="span" className="jp-ChatExt-icon" />
          <span className="jp-ChatExt-toolName">{name}</span>
          <span className="jp-ChatExt-toolArgs">{argumentsPreview(args)}</span>
          <span className={`jp-ChatExt-toolState jp-ChatExt-toolState-${state}`}>
            {LABELS[state]}
            {how}
          </span>
        </summary>
        <div className="jp-ChatExt-toolBody">
          <div className="jp-ChatExt-toolLabel">Arguments</div>
          <pre className="jp-ChatExt-toolPre">{prettyArguments(args) || '{}'}</pre>
          {result ? (
            <>
              <div className="jp-ChatExt-toolLabel">Result</div>
              <pre className="jp-ChatExt-toolPre jp-ChatExt-toolResult">{result.content}</pre>
            </>
          ) : null}
          {live?.error && !result ? <div className="jp-ChatExt-fieldError">{live.error}</div> : null}
        </div>
      </details>
      {live && state === 'asking' ? <ApprovalCard call={live} onDecide={d => props.onDecide(call.id, d)} /> : null}
    </div>
  );
}

/** A result row whose call is not in the thread (older page, imported chat): shown alone. */
export function ToolResultRow(props: { message: Message }): JSX.Element {
  const m = props.message;
  const name = typeof m.metadata?.name === 'string' ? m.metadata.name : 'tool';
  const args = typeof m.metadata?.arguments === 'string' ? m.metadata.arguments : '';
  const id = typeof m.metadata?.tool_call_id === 'string' ? m.metadata.tool_call_id : String(m.id);
  return <ToolCallRow call={{ id, type: 'function', function: { name, arguments: args } }} result={m} onDecide={() => undefined} />;
}

/** The results in a thread by call id (a "tool" row's `metadata.tool_call_id`). */
export function resultsByCall(messages: readonly Message[]): Map<string, Message> {
  const out = new Map<string, Message>();
  for (const m of messages) {
    const id = m.role === 'tool' ? m.metadata?.tool_call_id : undefined;
    if (typeof id === 'string') {
      out.set(id, m);
    }
  }
  return out;
}

/** The call ids that assistant rows of the thread carry (their results are shown with them). */
export function claimedCalls(messages: readonly Message[]): Set<string> {
  const out = new Set<string>();
  for (const m of messages) {
    for (const c of m.metadata?.tool_calls ?? []) {
      out.add(c.id);
    }
  }
  return out;
}
