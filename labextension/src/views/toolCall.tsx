/**
 * Tool calls in the thread (agent turns): one folded row per call (name and state; the arguments
 * and the result on click), and the approval card of a call that writes or executes.
 * Live calls come from the tools slice; stored ones from the assistant row's
 * `metadata.tool_calls` and the "tool" rows that hold their results.
 */
import { buildIcon } from '@jupyterlab/ui-components';
import React from 'react';

import { callState, CallState, Decision, LiveCall } from '../store/tools';
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
