/** The model hub and provider routes, over the sidebar's {@link ChatApi} (auth, XSRF, JSON errors). */
import { ChatApi } from '../api';
import {
  Catalog,
  Hardware,
  HubFiles,
  HubModel,
  InstalledModel,
  ProviderDraft,
  ProviderList,
  Provider,
  ProviderTest,
  PullJob,
  Role,
  Roles,
  RoleSlot
} from './types';

export interface ModelsApi {
  hardware(): Promise<Hardware>;
  installed(): Promise<InstalledModel[]>;
  catalog(): Promise<Catalog>;
  roles(): Promise<Roles>;
  setRoles(patch: Partial<Record<RoleSlot, string | null>>): Promise<Roles>;
  deleteModel(id: string): Promise<unknown>;
  search(q: string, kind: Role | '', limit?: number): Promise<HubModel[]>;
  files(repo: string): Promise<HubFiles>;
  pull(repo: string, file: string | null, revision?: string): Promise<{ job: PullJob; joined?: boolean }>;
  pullJobs(): Promise<PullJob[]>;
  cancelJob(id: string): Promise<PullJob>;
  resumeJob(id: string): Promise<PullJob>;
  providers(): Promise<ProviderList>;
  addProvider(draft: ProviderDraft): Promise<Provider>;
  updateProvider(name: string, draft: Partial<ProviderDraft>): Promise<Provider>;
  deleteProvider(name: string): Promise<unknown>;
  testProvider(name: string, draft?: Partial<ProviderDraft> & { model?: string }): Promise<ProviderTest>;
}

function body(method: string, data?: unknown): RequestInit {
  return {
    method,
    body: data === undefined ? undefined : JSON.stringify(data),
    headers: data === undefined ? undefined : { 'Content-Type': 'application/json' }
  };
}

/** The lab's ModelsApi: every call is one route of the extension. */
export function modelsApi(api: ChatApi): ModelsApi {
  const enc = encodeURIComponent;
  return {
    hardware: () => api.json<Hardware>('hardware'),
    installed: async () => (await api.json<{ models: InstalledModel[] }>('models')).models,
    catalog: () => api.json<Catalog>('catalog'),
    roles: () => api.json<Roles>('roles'),
    setRoles: patch => api.json<Roles>('roles', body('PUT', patch)),
    deleteModel: id => api.json<unknown>(`models/${enc(id)}`, body('DELETE')),
    search: async (q, kind, limit = 20) => (await api.json<{ models: HubModel[] }>('hub/search', {}, { q, kind, limit })).models,
    files: repo => api.json<HubFiles>('hub/files', {}, { repo }),
    pull: (repo, file, revision) => {
      const data: Record<string, string> = { repo };
      if (file) {
        data.file = file;
      }
      if (revision) {
        data.revision = revision;
      }
      return api.json<{ job: PullJob; joined?: boolean }>('models/pull', body('POST', data));
    },
    pullJobs: async () => (await api.json<{ jobs: PullJob[] }>('jobs', {}, { kind: 'pull' })).jobs,
    cancelJob: id => api.json<PullJob>(`jobs/${enc(id)}/cancel`, body('POST')),
    resumeJob: id => api.json<PullJob>(`jobs/${enc(id)}/resume`, body('POST')),
    providers: () => api.json<ProviderList>('providers'),
    addProvider: draft => api.json<Provider>('providers', body('POST', draft)),
    updateProvider: (name, draft) => api.json<Provider>(`providers/${enc(name)}`, body('PUT', draft)),
    deleteProvider: name => api.json<unknown>(`providers/${enc(name)}`, body('DELETE')),
    testProvider: (name, draft) => api.json<ProviderTest>(`providers/${enc(name)}/test`, body('POST', draft ?? {}))
  };
}
