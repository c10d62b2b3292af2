/**
 * Tools in the sidebar (seams C): the "Tools" switch, the allow-list, and the tool calls of the
 * turn streaming now. The server runs the agent loop; this slice answers its calls:
 * - a call that needs approval shows a card (Approve once / Always for this tool / Deny), unless
 *   the tool is on the allow-list, which approves it at once ("always");
 * - a call this page executes (the notebook tools) runs here once approved (read tools at once)
 *   and its result goes back with the decision;
 * - the reply is `POST /chat-ext/tool-calls/{call_id}`.
 * The stored picture (the assistant row's `metadata.tool_calls`, the "tool" rows) lives in the
 * conversation; this slice holds only what is live: who is asked, what runs.
 */
import { ChatApi, ToolReply } from '../api';
import { ToolExecutor, ToolOutcome } from '../notebookTools';
import { errorMessage } from './catalog';
import { ChatEvent, Message, ToolCallEvent, ToolsRequest } from '../types';
import { SliceDeps, ToolsState } from './state';

export type ToolsApi = Pick<ChatApi, 'replyToolCall'>;

/** Where a live call stands: asking the user, running (here or on the server), answered, over. */
export type CallPhase = 'asking' | 'running' | 'replied' | 'done' | 'failed' | 'cancelled';

export interface LiveCall {
  callId: string;
  messageId: number;
  name: string;
  arguments: string;
  effect: string;
  source: string;
  executor: 'server' | 'client';
  approval: 'required' | 'auto';
  phase: CallPhase;
  decision?: ToolReply['decision'];
  /** what went wrong answering it (a reply refused: the call timed out, the turn ended) */
  error?: string;
  /** the per-call secret of its tool_call event: the reply must carry it (issue 19) */
  token?: string;
}

export type Decision = ToolReply['decision'];

export interface ToolsEnv {
  /** the tools this page can run, bound to the notebook the sidebar is attached to (null: none) */
  executor(): ToolExecutor | null;
  /** keep "always" in the extension's settings (the allow-list) */
  allow(names: string[]): void;
  maxSteps(): number;
}

export const DEFAULT_MAX_STEPS = 8;

export const initialTools = (): ToolsState => ({ toolsOn: false, toolAllowlist: [], toolCalls: {} });

export class ToolsSlice {
  constructor(
    private readonly deps: SliceDeps<ToolsApi>,
    private readonly env: ToolsEnv
  ) {}

  private get state(): ToolsState {
    return this.deps.cell.get();
  }

  setOn(on: boolean): void {
    this.deps.cell.set({ toolsOn: on });
  }

  setAllowlist(names: readonly unknown[] | null | undefined): void {
    const list = (names ?? []).filter((n): n is string => typeof n === 'string' && n.length > 0);
    this.deps.cell.set({ toolAllowlist: [...new Set(list)] });
  }

  allowed(name: string): boolean {
    return this.state.toolAllowlist.includes(name);
  }

  /**
   * A turn starts: the chat body's `tools` (undefined when the switch is off). The executor is
   * bound now, so the turn's calls act on the notebook that was open when it was asked.
   */
  beginTurn(): ToolsRequest | undefined {
    this._executor = null;
    this.deps.cell.set({ toolCalls: {} });
    if (!this.state.toolsOn) {
      return undefined;
    }
    this._executor = this.env.executor();
    return { names: null, client: this._executor ? [...this._executor.names] : [], max_steps: this.env.maxSteps() };
  }

  /** The turn ended (done, error, stop): calls nobody answered are over. */
  endTurn(): void {
    const calls = { ...this.state.toolCalls };
    let changed = false;
    for (const [id, c] of Object.entries(calls)) {
      if (c.phase === 'asking' || c.phase === 'running') {
        calls[id] = { ...c, phase: 'cancelled' };
        changed = true;
      }
    }
    if (changed) {
      this.deps.cell.set({ toolCalls: calls });
    }
    this._executor = null;
  }

  /** Events of the streaming turn (the conversation applies them too). */
  handle(ev: ChatEvent): void {
    if (ev.type === 'tool_call') {
      this.called(ev);
    } else if (ev.type === 'tool_result' && this.state.toolCalls[ev.call_id]) {
      this.patch(ev.call_id, { phase: 'done' }); // a card still open (a refused call) closes
    }
  }

  private patch(callId: string, fields: Partial<LiveCall>): LiveCall | null {
    const c = this.state.toolCalls[callId];
    if (!c) {
      return null;
    }
    const next = { ...c, ...fields };
    this.deps.cell.set({ toolCalls: { ...this.state.toolCalls, [callId]: next } });
    return next;
  }

  private called(ev: ToolCallEvent): void {
    const call: LiveCall = {
      callId: ev.call_id,
      messageId: ev.message_id,
      name: ev.name,
      arguments: ev.arguments ?? '',
      effect: ev.effect,
      source: ev.source,
      executor: ev.executor === 'client' ? 'client' : 'server',
      approval: ev.approval === 'required' ? 'required' : 'auto',
      phase: 'asking',
      token: ev.approval_token
    };
    this.deps.cell.set({ toolCalls: { ...this.state.toolCalls, [call.callId]: call } });
    if (call.executor === 'server' && call.approval === 'auto') {
      this.patch(call.callId, { phase: 'running' }); // the server runs it (or answers a bad call)
      return;
    }
    if (this.allowed(call.name)) {
      void this.decide(call.callId, 'always');
    } else if (call.executor === 'client' && call.approval === 'auto' && (call.effect === 'read' || ev.allowed)) {
      void this.decide(call.callId, 'approve'); // a read tool of this page, or one the server's allow-list names: run it now
    }
    // Else the card asks. A write/execute tool of this page is never run unasked on a bare
    // "auto": that is also what a call the server refused (bad arguments) looks like, and its
    // error result, arriving next, closes the card.
  }

  /** The user's answer (or the allow-list's): run the tool here when it is ours, then reply. */
  async decide(callId: string, decision: Decision): Promise<void> {
    const call = this.state.toolCalls[callId];
    if (!call || call.phase !== 'asking') {
      return;
    }
    if (decision === 'always' && !this.allowed(call.name)) {
      const list = [...this.state.toolAllowlist, call.name];
      this.deps.cell.set({ toolAllowlist: list });
      this.env.allow(list);
    }
    this.patch(callId, { phase: 'running', decision });
    let result: ToolOutcome | null = null;
    if (decision !== 'deny' && call.executor === 'client') {
      result = await this.execute(call);
    }
    if (this.state.toolCalls[callId]?.phase !== 'running') {
      return; // the turn ended while the tool ran
    }
    try {
      await this.deps.api.replyToolCall(callId, { decision, result, token: call.token });
      this.patch(callId, { phase: call.executor === 'client' || decision === 'deny' ? 'replied' : 'running' });
    } catch (err) {
      this.patch(callId, { phase: 'failed', error: errorMessage(err) });
    }
  }

  private async execute(call: LiveCall): Promise<ToolOutcome> {
    const executor = this._executor;
    if (!executor || !executor.names.includes(call.name)) {
      return { content: `${call.name} cannot run: no notebook is open in JupyterLab`, is_error: true };
    }
    try {
      return await executor.run(call.name, call.arguments);
    } catch (err) {
      return { content: `${call.name} failed: ${(err as Error)?.message ?? err}`, is_error: true };
    }
  }

  private _executor: ToolExecutor | null = null;
}

// --- what the thread shows (pure) ------------------------------------------------------------

export type CallState = 'asking' | 'running' | 'done' | 'error' | 'denied' | 'timeout' | 'failed' | 'stopped' | 'none';

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
