/**
 * ModelsStore: the Models view's state and every action on it (hub, roles, pulls, providers).
 * One {@link Cell} the view subscribes to; the server is the store of record. A running pull is
 * polled every {@link PULL_POLL_MS} (GET /jobs?kind=pull) until none runs; when one ends done, the
 * installed list, the catalog and the chat's model picker (`onModelsChanged`) are refreshed.
 */
import { ApiError } from '../api';
import { Cell } from '../store/state';
import { ModelsApi } from './api';
import { emptyForm, formDraft, ProviderForm } from './providerForm';
import {
  initialModels,
  isActive,
  mergeJobs,
  ModelsState,
  newlyDone,
  pullErrorText,
  sampleJob,
  Section,
  watch
} from './state';
import { Role, RoleSlot } from './types';

export const PULL_POLL_MS = 1000;

export interface ModelsHooks {
  /** the installed models or the roles changed: the chat's model picker refreshes */
  onModelsChanged(): void;
}

function message(err: unknown): string {
  return err instanceof ApiError ? err.message : String((err as Error)?.message ?? err);
}

export class ModelsStore {
  constructor(
    readonly api: ModelsApi,
    private readonly hooks: ModelsHooks = { onModelsChanged: () => undefined }
  ) {}

  subscribe = (listener: () => void): (() => void) => this._cell.subscribe(listener);
  getState = (): ModelsState => this._cell.get();

  private set(patch: Partial<ModelsState>): void {
    this._cell.set(patch);
  }
  private setError(part: keyof ModelsState['errors'], text: string | null): void {
    const errors = { ...this.getState().errors };
    if (text === null) {
      delete errors[part];
    } else {
      errors[part] = text;
    }
    this.set({ errors });
  }

  /** One part of the view from the server; its failure is shown where it belongs. */
  private async load<K extends keyof ModelsState>(
    part: keyof ModelsState['errors'],
    key: K,
    fetch: () => Promise<ModelsState[K]>
  ): Promise<void> {
    try {
      const value = await fetch();
      this.set({ [key]: value } as unknown as Partial<ModelsState>);
      this.setError(part, null);
    } catch (err) {
      this.setError(part, message(err));
    }
  }

  setSection(section: Section): void {
    this.set({ section });
    if (section === 'providers' && !this.getState().providers) {
      void this.refreshProviders();
    }
  }

  /** Everything the view shows (when it opens); polling resumes if a pull runs. */
  async refresh(): Promise<void> {
    this.set({ loading: true });
    await Promise.all([
      this.load('hardware', 'hardware', () => this.api.hardware()),
      this.refreshInstalled(),
      this.load('catalog', 'catalog', () => this.api.catalog()),
      this.refreshJobs(),
      this.refreshProviders()
    ]);
    this.set({ loading: false });
  }

  async refreshInstalled(): Promise<void> {
    await Promise.all([
      this.load('installed', 'installed', () => this.api.installed()),
      this.load('roles', 'roles', () => this.api.roles())
    ]);
  }

  // --- roles and deletion ------------------------------------------------------------------
  async setRole(slot: RoleSlot, id: string | null): Promise<void> {
    try {
      const roles = await this.api.setRoles({ [slot]: id });
      this.set({ roles, notice: id ? `${id} is now the ${slot === 'chat' ? 'default chat' : slot} model.` : `No ${slot} model set.` });
      this.setError('roles', null);
      await this.refreshInstalled();
      this.hooks.onModelsChanged();
    } catch (err) {
      this.setError('roles', message(err));
    }
  }

  async deleteModel(id: string): Promise<boolean> {
    try {
      await this.api.deleteModel(id);
      this.set({ notice: `Deleted ${id}.` });
      this.setError('installed', null);
      await Promise.all([this.refreshInstalled(), this.load('catalog', 'catalog', () => this.api.catalog())]);
      this.hooks.onModelsChanged();
      return true;
    } catch (err) {
      this.setError('installed', message(err));
      return false;
    }
  }

  // --- the hub -------------------------------------------------------------------------------
  setQuery(query: string, kind: Role | '' = this.getState().kind): void {
    this.set({ query, kind });
  }

  async search(): Promise<void> {
    const { query, kind } = this.getState();
    this.set({ searching: true, files: null });
    try {
      const results = await this.api.search(query.trim(), kind);
      this.set({ results });
      this.setError('search', null);
    } catch (err) {
      this.setError('search', err instanceof ApiError ? pullErrorText(err.status, err.code, err.message) : message(err));
    } finally {
      this.set({ searching: false });
    }
  }

  async showFiles(repo: string): Promise<void> {
    if (this.getState().files?.repo === repo) {
      this.set({ files: null }); // a second click folds the list
      return;
    }
    this.set({ filesLoading: repo });
    try {
      const files = await this.api.files(repo);
      this.set({ files });
      this.setError('files', null);
    } catch (err) {
      this.setError('files', err instanceof ApiError ? pullErrorText(err.status, err.code, err.message) : message(err));
    } finally {
      this.set({ filesLoading: null });
    }
  }

  // --- pulls ---------------------------------------------------------------------------------
  async pull(repo: string, file: string | null): Promise<boolean> {
    try {
      const { job, joined } = await this.api.pull(repo, file);
      this.absorb([job]);
      this.set({ notice: joined ? `Already pulling ${repo}: showing that download.` : null });
      this.setError('pull', null);
      return true;
    } catch (err) {
      this.setError('pull', err instanceof ApiError ? pullErrorText(err.status, err.code, err.message) : message(err));
      return false;
    }
  }

  async cancel(id: string): Promise<void> {
    await this.jobAction(id, () => this.api.cancelJob(id));
  }

  async resume(id: string): Promise<void> {
    await this.jobAction(id, () => this.api.resumeJob(id));
  }

  private async jobAction(id: string, call: () => Promise<import('./types').PullJob>): Promise<void> {
    try {
      this.absorb([await call()]);
      this.setError('pull', null);
    } catch (err) {
      this.setError('pull', err instanceof ApiError ? pullErrorText(err.status, err.code, err.message) : message(err));
    }
  }

  async refreshJobs(): Promise<void> {
    try {
      this.absorb(await this.api.pullJobs());
    } catch (err) {
      this.setError('pull', message(err));
    }
  }

  /** Take job snapshots: merge, sample the rate, refresh lists on completion, keep polling. */
  private absorb(incoming: import('./types').PullJob[]): void {
    const before = this.getState().jobs;
    const jobs = mergeJobs(before, incoming);
    const now = Date.now();
    let samples = this.getState().samples;
    for (const j of incoming) {
      if (j?.kind === 'pull') {
        samples = sampleJob(samples, j, now);
      }
    }
    this.set({ jobs, samples, watched: watch(this.getState().watched, jobs) });
    const done = newlyDone(before, jobs);
    if (done.length) {
      this.set({ notice: `Pulled ${done.map(j => j.model_id ?? j.repo).join(', ')}.` });
      const open = this.getState().files?.repo;
      void Promise.all([
        this.refreshInstalled(),
        this.load('catalog', 'catalog', () => this.api.catalog()),
        // the open file list shows the new model as installed
        open ? this.load('files', 'files', () => this.api.files(open)) : Promise.resolve()
      ]).then(() => this.hooks.onModelsChanged());
    }
    this.schedulePoll();
  }

  private schedulePoll(): void {
    if (this._disposed || this._timer !== null || !this.getState().jobs.some(isActive)) {
      return;
    }
    this._timer = setTimeout(async () => {
      try {
        this._timer = null;
        const jobs = await this.api.pullJobs();
        this.absorb(jobs);
      } catch (err) {
        this.setError('pull', message(err));
        this._timer = null;
        this.schedulePoll();
      }
    }, PULL_POLL_MS);
  }

  // --- providers -----------------------------------------------------------------------------
  async refreshProviders(): Promise<void> {
    await this.load('providers', 'providers', () => this.api.providers());
  }

  /** Add or change a provider; true when saved (its models then show in the model picker). */
  async saveProvider(form: ProviderForm): Promise<boolean> {
    const draft = formDraft(form);
    try {
      if (form.editing) {
        const { name: _name, ...patch } = draft;
        void _name;
        await this.api.updateProvider(form.editing, patch);
      } else {
        await this.api.addProvider(draft);
      }
      this.set({ notice: `Saved the provider ${draft.name}.`, test: null });
      this.setError('providers', null);
      await Promise.all([this.refreshProviders(), this.refreshInstalled()]);
      this.hooks.onModelsChanged();
      return true;
    } catch (err) {
      this.setError('providers', message(err));
      return false;
    }
  }

  async removeProvider(name: string): Promise<void> {
    try {
      await this.api.deleteProvider(name);
      this.set({ notice: `Removed the provider ${name}.` });
      this.setError('providers', null);
      await Promise.all([this.refreshProviders(), this.refreshInstalled()]);
      this.hooks.onModelsChanged();
    } catch (err) {
      this.setError('providers', message(err));
    }
  }

  /** Test a saved provider (name) or the form as it is now (before saving). */
  async testProvider(target: string | ProviderForm): Promise<void> {
    this.set({ testing: true, test: null });
    try {
      let test;
      if (typeof target === 'string') {
        test = await this.api.testProvider(target);
      } else {
        const { name, preset: _preset, clear_key: _clear, ...draft } = formDraft(target);
        void _preset;
        void _clear;
        test = await this.api.testProvider(name || 'draft', draft);
      }
      this.set({ test });
      this.setError('providers', null);
    } catch (err) {
      this.setError('providers', message(err));
    } finally {
      this.set({ testing: false });
    }
  }

  clearNotice(): void {
    this.set({ notice: null });
  }

  dispose(): void {
    this._disposed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this._cell.clear();
  }

  private _cell = new Cell<ModelsState>(initialModels());
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _disposed = false;
}

export { emptyForm };
