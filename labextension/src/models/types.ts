/**
 * Wire shapes of the model hub and provider routes, named from the generated `../api/schema.ts`
 * (the OpenAPI document built from jupyter_chat_ext/wire/hub.py, models.py, jobs.py, providers.py).
 */
import type { components } from '../api/schema';
import { ModelInfo } from '../types';

type Schemas = components['schemas'];

export type Role = Schemas['CatalogEntry']['role'];
/** what PUT /roles sets (code models serve "inline") */
export type RoleSlot = keyof Schemas['RoleModels'];

export type Fits = Schemas['Fits'];
export type Gpu = Schemas['Gpu'];
export type Hardware = Schemas['Hardware'];
export type CatalogEntry = Schemas['CatalogEntry'];
export type Catalog = Schemas['Catalog'];
export type HubModel = Schemas['HubModel'];
export type HubFile = Schemas['HubFile'];
export type HubFiles = Schemas['HubFiles'];
export type JobState = Schemas['Job']['state'];
export type PullJob = Schemas['Job'];
export type Roles = Schemas['Roles'];

/** GET /models entries, with the hub's additions (backend, gpu_layers, repo, roles, tools_hint) */
export type InstalledModel = ModelInfo;

export type Preset = Schemas['PresetInfo'];
export type Provider = Schemas['Provider'];
export type ProviderList = Schemas['ProviderList'];
/** What the form sends (a key only on its way in: no answer carries one). */
export type ProviderDraft = Omit<Schemas['ProviderUpdate'], 'preset'> & {
  name: string;
  base_url: string;
  /** a preset id of GET /providers (the server refuses one it does not know) */
  preset?: string | null;
};
export type ProviderTest = Schemas['ProviderTestResult'];
