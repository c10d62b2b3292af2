/**
 * Wire shapes of the model hub and provider routes (/work/shared HUB_API contract; server/openapi.yaml).
 * Pure types: no imports but the base ModelInfo.
 */
import { ModelInfo } from '../types';

export type Role = 'chat' | 'code' | 'embedding' | 'rerank';
/** what PUT /roles sets (code models serve "inline") */
export type RoleSlot = 'chat' | 'inline' | 'embedding' | 'rerank';

export interface Fits {
  verdict: 'gpu' | 'cpu' | 'no';
  needed_bytes: number;
  note: string;
}

export interface Gpu {
  index: number;
  name: string;
  vram_total_bytes: number;
  vram_free_bytes: number | null;
  source?: string;
}

export interface Hardware {
  cpu: { cores: number; model: string | null; features: string[] };
  ram: { total_bytes: number; available_bytes: number };
  disk: { path: string; free_bytes: number };
  gpus: Gpu[];
  jetson?: { detected: boolean; release: string | null; unified_memory: boolean };
  llama_cpp?: { installed: boolean; version: string | null; gpu_offload: boolean; backends: string[] };
}

export interface CatalogEntry {
  id: string;
  role: Role;
  name: string;
  repo: string;
  file: string | null;
  parameters: number;
  quant: string | null;
  size_bytes: number;
  context_length: number;
  licence: string;
  fim: boolean;
  tools: boolean;
  notes: string;
  fits: Fits;
  installed: boolean;
  model_id: string | null;
}

export interface Catalog {
  entries: CatalogEntry[];
  suggested: Partial<Record<Role, string | null>>;
  hardware?: Hardware;
}

export interface HubModel {
  repo: string;
  gguf: boolean;
  downloads: number | null;
  likes: number | null;
  updated: string | null;
  pipeline_tag: string | null;
  tags: string[];
}

export interface HubFile {
  file: string | null;
  size_bytes: number;
  format: 'gguf' | 'safetensors';
  quant: string | null;
  fits: Fits;
  installed: boolean;
}

export interface HubFiles {
  repo: string;
  revision: string;
  files: HubFile[];
}

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface PullJob {
  id: string;
  kind: 'pull' | 'ingest' | 'upload';
  state: JobState;
  progress: number | null;
  error: { code: string; message: string } | null;
  actions: string[];
  created_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
  attempts?: number;
  repo?: string;
  file?: string | null;
  revision?: string | null;
  bytes_done?: number;
  bytes_total?: number | null;
  rate?: number | null;
  eta_s?: number | null;
  model_id?: string | null;
}

export interface Roles {
  chat: string;
  inline: string | null;
  embedding: string;
  rerank: string | null;
  effective?: Partial<Record<RoleSlot, string | null>>;
}

/** GET /models entries, with the hub's additions */
export interface InstalledModel extends ModelInfo {
  /** which backend serves it: llamacpp, transformers, remote */
  backend?: string | null;
  /** llama.cpp layers on the GPU once loaded (-1 all, 0 none) */
  gpu_layers?: number | null;
  repo?: string | null;
  file?: string | null;
  roles?: string[];
  tools_hint?: { likely: boolean; reason: string };
}

export interface Preset {
  id: string;
  label: string;
  base_url: string;
  needs_key?: boolean;
  key_env?: string | null;
}

export interface Provider {
  name: string;
  base_url: string;
  source: 'user' | 'config';
  editable: boolean;
  key: 'keyring' | 'env' | 'config' | 'none';
  api_key_env: string | null;
  key_set: boolean;
  models: string[];
  timeout_s?: number | null;
  preset?: string | null;
}

export interface ProviderList {
  providers: Provider[];
  presets: Preset[];
  keyring: { available: boolean; backend: string | null; note: string };
  file?: string;
  problems?: string[];
}

/** What the form sends (a key only on its way in: no answer carries one). */
export interface ProviderDraft {
  name: string;
  base_url: string;
  api_key?: string;
  api_key_env?: string;
  models?: string[];
  preset?: string | null;
  clear_key?: boolean;
}

export interface ProviderTest {
  ok: boolean;
  name?: string;
  base_url?: string;
  models: string[];
  models_error: string | null;
  model: string | null;
  model_id?: string;
  answer: string;
  ttft_s: number | null;
  total_s: number | null;
  error: string | null;
}
