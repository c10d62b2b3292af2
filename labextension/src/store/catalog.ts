/**
 * What the server offers: models (load/unload with polled progress) and RAG collections with
 * their ingest jobs. Independent of which chat is open.
 */
import { ApiError, ChatApi } from '../api';
import { IngestJob, ModelInfo } from '../types';
import { CatalogState, SliceDeps } from './state';

export type CatalogApi = Pick<
  ChatApi,
  'models' | 'model' | 'loadModel' | 'unloadModel' | 'collections' | 'createCollection' | 'deleteCollection' | 'addDocuments' | 'job'
>;

/** how often a loading model or a running ingest job is polled */
export const POLL_MS = 500;

export const initialCatalog = (): CatalogState => ({
  models: [],
  modelsError: null,
  collections: [],
  jobs: [],
  collection: ''
});

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    return err.message;
  }
  return String((err as Error)?.message ?? err);
}

export class CatalogSlice {
  constructor(private readonly deps: SliceDeps<CatalogApi>) {}

  private get state(): CatalogState {
    return this.deps.cell.get();
  }
  private set(patch: Partial<CatalogState>): void {
    this.deps.cell.set(patch);
  }

  // --- models --------------------------------------------------------------------------------
  async refreshModels(): Promise<void> {
    try {
      const models = await this.deps.api.models();
      this.set({ models, modelsError: null });
      for (const m of models) {
        if (m.state === 'loading') {
          void this.pollModel(m.id);
        }
      }
    } catch (err) {
      this.set({ modelsError: errorMessage(err) });
    }
  }

  private updateModel(info: ModelInfo): void {
    const models = this.state.models.some(m => m.id === info.id)
      ? this.state.models.map(m => (m.id === info.id ? { ...m, ...info } : m))
      : [...this.state.models, info];
    this.set({ models });
  }

  private known(id: string): ModelInfo {
    return this.state.models.find(m => m.id === id) ?? ({ id, kind: 'chat', source: '', format: '', state: 'unloaded' } as ModelInfo);
  }

  async loadModel(id: string): Promise<void> {
    try {
      this.updateModel({ ...this.known(id), state: 'loading', progress: 0, error: null });
      this.updateModel(await this.deps.api.loadModel(id));
      await this.pollModel(id);
    } catch (err) {
      this.updateModel({ ...this.known(id), state: 'error', error: errorMessage(err) });
      this.deps.fail(err, `Could not load ${id}`);
    }
  }

  async unloadModel(id: string): Promise<void> {
    try {
      this.updateModel(await this.deps.api.unloadModel(id));
    } catch (err) {
      this.deps.fail(err, `Could not unload ${id}`);
    }
  }

  private async pollModel(id: string): Promise<void> {
    if (this._polling.has(id)) {
      return;
    }
    this._polling.add(id);
    try {
      for (;;) {
        const info = await this.deps.api.model(id);
        this.updateModel(info);
        if (info.state !== 'loading') {
          if (info.state === 'error') {
            this.deps.cell.set({ notice: { kind: 'error', text: `Model ${id} failed to load: ${info.error ?? 'unknown error'}` } });
          }
          return;
        }
        await new Promise(r => setTimeout(r, POLL_MS));
      }
    } catch (err) {
      this.set({ modelsError: errorMessage(err) });
    } finally {
      this._polling.delete(id);
    }
  }

  // --- collections ---------------------------------------------------------------------------
  setCollection(name: string): void {
    this.set({ collection: name });
  }

  /** The collection from the settings, unless the user already picked one. */
  setDefaultCollection(name: string): void {
    if (!this.state.collection) {
      this.set({ collection: name });
    }
  }

  async refreshCollections(): Promise<void> {
    try {
      const collections = await this.deps.api.collections();
      const chosen = this.state.collection;
      this.set({ collections, collection: chosen && !collections.some(c => c.name === chosen) ? '' : chosen });
    } catch (err) {
      if (!(err instanceof ApiError && (err.offline || err.missing))) {
        this.deps.cell.set({ notice: { kind: 'error', text: `Could not list collections: ${errorMessage(err)}` } });
      }
    }
  }

  async createCollection(name: string): Promise<boolean> {
    try {
      await this.deps.api.createCollection(name.trim());
      await this.refreshCollections();
      return true;
    } catch (err) {
      this.deps.fail(err, 'Could not create the collection');
      return false;
    }
  }

  async deleteCollection(name: string): Promise<void> {
    try {
      await this.deps.api.deleteCollection(name);
      await this.refreshCollections();
    } catch (err) {
      this.deps.fail(err, 'Could not delete the collection');
    }
  }

  /** Start ingesting files/folders; resolves with the finished job (polled). */
  async addDocuments(name: string, paths: string[], onProgress?: (job: IngestJob) => void): Promise<IngestJob> {
    let job = await this.deps.api.addDocuments(name, paths);
    const track = (j: IngestJob) => {
      const others = this.state.jobs.filter(x => x.id !== j.id);
      this.set({ jobs: [j, ...others].slice(0, 10) });
      onProgress?.(j);
    };
    track(job);
    while (job.state === 'queued' || job.state === 'running') {
      await new Promise(r => setTimeout(r, POLL_MS));
      job = await this.deps.api.job(job.id);
      track(job);
    }
    void this.refreshCollections();
    return job;
  }

  private _polling = new Set<string>();
}
