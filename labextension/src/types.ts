/**
 * Shapes of the server API (docs/architecture.md, "HTTP API"). Pure types: no imports.
 */

export type Role = 'system' | 'user' | 'assistant' | 'tool';

/**
 * Stored statuses; "streaming" is an answer being written now (in this page, or a checkpointed
 * answer another client is still streaming).
 */
export type MessageStatus = 'complete' | 'interrupted' | 'error' | 'streaming';

export interface GenerationParams {
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  seed?: number;
  [key: string]: unknown;
}

export interface Session {
  id: string;
  title: string | null;
  model: string | null;
  system_prompt: string | null;
  params: GenerationParams;
  pinned: boolean;
  created_at: string;
  updated_at: string;
  message_count: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface Metrics {
  prompt_tokens?: number;
  completion_tokens?: number;
  ttft_s?: number;
  tokens_per_s?: number;
  total_s?: number;
  model?: string;
  device?: string;
  finish_reason?: string;
}

export interface Citation {
  source: string;
  location?: Record<string, unknown> | null;
  score?: number;
  text?: string;
}

export interface Message {
  id: number;
  session_id: string;
  role: Role;
  content: string;
  model: string | null;
  params: GenerationParams;
  parent_id: number | null;
  status: MessageStatus;
  metadata: {
    citations?: Citation[];
    /** assistant rows that called tools (agent turns) */
    tool_calls?: ToolCall[];
    error?: { code?: string; message?: string } | string;
    [key: string]: unknown;
  };
  created_at: string;
  metrics: Metrics | null;
}

export type ModelState = 'unloaded' | 'loading' | 'loaded' | 'error';

export interface ModelInfo {
  id: string;
  kind: 'chat' | 'embedding';
  source: string;
  format: string;
  path?: string;
  size_bytes?: number | null;
  parameters?: number | null;
  context_length?: number | null;
  chat_template?: boolean;
  state: ModelState;
  progress?: number;
  device?: string | null;
  dtype?: string | null;
  error?: string | null;
  /** what a load is doing now ("loading weights", ...) */
  message?: string | null;
  notes?: string[];
}

export interface Collection {
  name: string;
  documents: number;
  chunks: number;
  size_bytes: number;
  embedding_model?: string;
  created_at?: string;
}

export interface IngestJob {
  id: string;
  collection: string;
  kind?: 'ingest' | 'upload' | 'pull';
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
  files_total: number;
  files_done: number;
  chunks: number;
  embedded: number;
  skipped: { path: string; reason: string }[];
  rate?: number | null;
  /** the server sends {code, message} */
  error?: { code: string; message: string } | string | null;
}

export interface Health {
  status: string;
  version?: string;
  engine?: Record<string, unknown>;
  store?: Record<string, unknown>;
  uptime_s?: number;
}

export interface RagRequest {
  collection: string;
  k?: number;
  mode?: 'hybrid' | 'vector' | 'text';
}

/** Events of one turn, as sent by the server's SSE stream (named events). */
export interface StartEvent {
  type: 'start';
  session_id: string;
  user_message_id: number;
  assistant_message_id: number;
  model: string;
}
export interface TokenEvent {
  type: 'token';
  text: string;
}
export interface DoneEvent {
  type: 'done';
  session_id?: string;
  user_message_id?: number;
  message_id: number;
  status?: string;
  finish_reason?: string;
  metrics?: Metrics;
  citations?: Citation[];
  /** the whole answer text (continue: including what was written before the stop) */
  text?: string;
  /** agent turns: how many steps the turn took */
  steps?: number;
}
export interface ErrorEvent {
  type: 'error';
  code?: string;
  status?: number;
  message: string;
  message_id?: number | null;
}
/** Agent turns (seams C): the model called a tool (`message_id`: the assistant row that called). */
export interface ToolCallEvent {
  type: 'tool_call';
  message_id: number;
  call_id: string;
  name: string;
  /** a JSON text */
  arguments: string;
  source: string;
  effect: 'read' | 'write' | 'execute' | string;
  approval: 'required' | 'auto';
  /** a write/execute tool the server's allow-list lets run unasked */
  allowed?: boolean;
  executor: 'server' | 'client';
  /** the per-call secret a reply must send back (present when the call waits for the client) */
  approval_token?: string;
}
export type ToolApproval = 'auto' | 'approved' | 'always' | 'denied' | 'timeout';
/** A tool's result, stored as its own row (`message_id`, role "tool"). */
export interface ToolResultEvent {
  type: 'tool_result';
  message_id: number;
  call_id: string;
  name: string;
  content: string;
  is_error: boolean;
  approval: ToolApproval;
}
/** The next step of an agent turn: a new assistant row takes the following tokens. */
export interface StepEvent {
  type: 'step';
  index: number;
  assistant_message_id: number;
}
/** OpenAI shape, as stored in an assistant row's `metadata.tool_calls`. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}
/** The chat body's `tools` (absent: no tools). */
export interface ToolsRequest {
  /** null: every enabled tool */
  names: string[] | null;
  /** the tools this page can execute (the notebook tools, when a notebook is open) */
  client: string[];
  max_steps: number;
}
export type ChatEvent = StartEvent | TokenEvent | DoneEvent | ErrorEvent | ToolCallEvent | ToolResultEvent | StepEvent;
