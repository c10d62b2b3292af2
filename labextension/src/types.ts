/**
 * Shapes of the server API. The wire shapes come from the generated `api/schema.ts` (the OpenAPI
 * document built from jupyter_chat_ext/wire/, `make wire`): a field changed there changes here.
 * This file names them for the sidebar; where the sidebar relies on more than the wire declares
 * (an open `metadata`, a field the server always sends but declares optional), the narrowing is
 * written beside the alias, so it stays visible.
 */
import type { components } from './api/schema';

type Schemas = components['schemas'];

/** OpenAI shape, as stored in an assistant row's `metadata.tool_calls` (what /v1 answers too). */
export type ToolCall = Schemas['ChatCompletionMessageFunctionToolCall'];

export type Citation = Schemas['Citation'];

/** What the chat code stores in a message's (open) metadata. */
export interface MessageMetadata {
  citations?: Citation[];
  /** assistant rows that called tools (agent turns) */
  tool_calls?: ToolCall[];
  error?: { code?: string; message?: string } | string;
  [key: string]: unknown;
}

export type Message = Omit<Schemas['Message'], 'metadata' | 'tokens' | 'branch' | 'metrics'> & {
  metadata: MessageMetadata;
  /** a stored row's figures, or what this page has of a turn it streamed */
  metrics: Metrics | null;
  /** absent on a row this page made before the server answered */
  tokens?: number | null;
};
export type Role = Message['role'];

/**
 * Stored statuses; "streaming" is an answer being written now (in this page, or a checkpointed
 * answer another client is still streaming).
 */
export type MessageStatus = Message['status'];

/** A session's stored options: the declared ones, and whatever an older client saved. */
export type GenerationParams = Schemas['GenerationParams'] & { [key: string]: unknown };
export type Session = Schemas['Session'];

/**
 * What the sidebar shows of a turn's figures: a done event's metrics (a stored message's hold the
 * same fields, all present) and the finish reason beside them.
 */
export type Metrics = Schemas['TurnMetrics'] & { finish_reason?: string | null };

export type ModelState = Schemas['ModelInfo']['state'];
export type ModelInfo = Omit<Schemas['ModelInfo'], 'error'> & {
  /** why the load failed */
  error?: string | null;
};
export type Collection = Schemas['Collection'];
/** an ingest or upload job (Job: the record of every kind) */
export type IngestJob = Omit<Schemas['Job'], 'skipped' | 'files_total' | 'files_done' | 'collection'> & {
  collection: string;
  files_total: number;
  files_done: number;
  skipped?: { path: string; reason: string }[] | null;
};
export type Health = Schemas['Health'];
export type RagRequest = Schemas['RagSpec'];

/** Events of one turn, as sent by the server's SSE stream (named events). */
export type StartEvent = Schemas['StartEvent'];
export type TokenEvent = Schemas['TokenEvent'];
export type DoneEvent = Omit<Schemas['DoneEvent'], 'citations'> & { citations?: Citation[] };
export type ErrorEvent = Schemas['ErrorEvent'];
/** Agent turns: the model called a tool (`message_id`: the assistant row that called). */
export type ToolCallEvent = Omit<Schemas['ToolCallEvent'], 'source' | 'effect' | 'approval_token'> & {
  source: string;
  effect: string;
  /** the per-call secret a reply must send back (present when the call waits for the client) */
  approval_token?: string;
};
export type ToolApproval = Schemas['ToolResultEvent']['approval'];
/** A tool's result, stored as its own row (`message_id`, role "tool"). */
export type ToolResultEvent = Schemas['ToolResultEvent'];
/** The next step of an agent turn: a new assistant row takes the following tokens. */
export type StepEvent = Schemas['StepEvent'];
/** The chat body's `tools` (absent: no tools). */
export type ToolsRequest = Schemas['AgentTools'];
export type ChatEvent = StartEvent | TokenEvent | DoneEvent | ErrorEvent | ToolCallEvent | ToolResultEvent | StepEvent;
