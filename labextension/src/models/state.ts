/**
 * The Models view's state and its pure reducers/formatters (jest: test/models.test.ts). The store
 * (store.ts) holds one {@link ModelsState} and calls the server; the views only render.
 */
import { formatBytes } from '../format';
import {
  Catalog,
  CatalogEntry,
  Fits,
  Hardware,
  HubFiles,
  HubModel,
  InstalledModel,
  ProviderList,
  ProviderTest,
  PullJob,
  Role,
  Roles
} from './types';

export type Section = 'installed' | 'catalog' | 'search' | 'providers';

export interface ModelsState {
  section: Section;
  loading: boolean;
  hardware: Hardware | null;
  installed: InstalledModel[];
  roles: Roles | null;
  catalog: Catalog | null;
  query: string;
  kind: Role | '';
  results: HubModel[] | null;
  searching: boolean;
  files: HubFiles | null;
  filesLoading: string | null;
  /** pull jobs, newest first */
  jobs: PullJob[];
  /** the last byte count seen per job (a rate when the server sends none) */
  samples: Record<string, Sample>;
  /** jobs this page saw queued or running (their end is news; older finished ones are not) */
  watched: string[];
  providers: ProviderList | null;
  test: ProviderTest | null;
  testing: boolean;
  /** the last failure per part of the view (shown where it happened) */
  errors: Partial<Record<'hardware' | 'installed' | 'catalog' | 'search' | 'files' | 'pull' | 'providers' | 'roles', string>>;
  notice: string | null;
}

export interface Sample {
  t: number;
  bytes: number;
  rate: number | null;
}

export const initialModels = (): ModelsState => ({
  section: 'installed',
  loading: false,
  hardware: null,
  installed: [],
  roles: null,
  catalog: null,
  query: '',
  kind: '',
  results: null,
  searching: false,
  files: null,
  filesLoading: null,
  jobs: [],
  samples: {},
  watched: [],
  providers: null,
  test: null,
  testing: false,
  errors: {},
  notice: null
});

// --- jobs ------------------------------------------------------------------------------------

export const ACTIVE: ReadonlySet<string> = new Set(['queued', 'running']);

export function isActive(job: PullJob): boolean {
  return ACTIVE.has(job.state);
}

/** Newer snapshots replace older ones by id; newest first (by created_at, then id). */
export function mergeJobs(jobs: PullJob[], incoming: PullJob[]): PullJob[] {
  const byId = new Map(jobs.map(j => [j.id, j]));
  for (const j of incoming) {
    if (j && j.kind === 'pull') {
      byId.set(j.id, { ...byId.get(j.id), ...j });
    }
  }
  return [...byId.values()].sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0) || b.id.localeCompare(a.id));
}

/** The jobs worth a row: running, resumable, or ended while this page watched them. */
export function visibleJobs(jobs: PullJob[], watched: string[], max = 8): PullJob[] {
  const seen = new Set(watched);
  return jobs.filter(j => isActive(j) || j.actions.includes('resume') || seen.has(j.id)).slice(0, max);
}

/** Add the ids of active jobs to the watched list. */
export function watch(watched: string[], jobs: PullJob[]): string[] {
  const add = jobs.filter(j => isActive(j) && !watched.includes(j.id)).map(j => j.id);
  return add.length ? [...watched, ...add] : watched;
}

/** Jobs that turned done between two snapshots (their models are new: refresh the lists). */
export function newlyDone(before: PullJob[], after: PullJob[]): PullJob[] {
  const was = new Map(before.map(j => [j.id, j.state]));
  return after.filter(j => j.state === 'done' && was.has(j.id) && was.get(j.id) !== 'done');
}

/** The newest job for a repo (and file); null when none. */
export function jobFor(jobs: PullJob[], repo: string, file: string | null): PullJob | null {
  return jobs.find(j => j.repo === repo && (j.file ?? null) === (file ?? null)) ?? null;
}

/** Record a byte count; the rate is the server's when it sends one, else measured here. */
export function sampleJob(samples: Record<string, Sample>, job: PullJob, now: number): Record<string, Sample> {
  const bytes = job.bytes_done ?? 0;
  const prev = samples[job.id];
  let rate = typeof job.rate === 'number' && job.rate >= 0 ? job.rate : null;
  if (rate === null && prev && now > prev.t && bytes >= prev.bytes) {
    rate = ((bytes - prev.bytes) * 1000) / (now - prev.t);
  }
  return { ...samples, [job.id]: { t: now, bytes, rate: rate ?? prev?.rate ?? null } };
}

export function fraction(job: PullJob): number | null {
  if (typeof job.progress === 'number' && job.progress >= 0) {
    return Math.min(1, job.progress);
  }
  if (job.bytes_total && job.bytes_total > 0) {
    return Math.min(1, (job.bytes_done ?? 0) / job.bytes_total);
  }
  return null;
}

export function formatRate(bytesPerS: number | null | undefined): string {
  return typeof bytesPerS === 'number' && bytesPerS > 0 ? `${formatBytes(bytesPerS)}/s` : '';
}

export function formatEta(seconds: number | null | undefined): string {
  if (typeof seconds !== 'number' || !isFinite(seconds) || seconds < 0) {
    return '';
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s} s left`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ${s % 60} s left`;
  }
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min left`;
}

/** "12.3 MB of 98.0 MB · 4.5 MB/s · 20 s left" (what is known of it). */
export function pullLabel(job: PullJob, sample?: Sample): string {
  const done = job.bytes_done ?? 0;
  const parts = [job.bytes_total ? `${formatBytes(done)} of ${formatBytes(job.bytes_total)}` : formatBytes(done)];
  if (isActive(job)) {
    const rate = typeof job.rate === 'number' ? job.rate : sample?.rate ?? null;
    parts.push(formatRate(rate));
    let eta = job.eta_s;
    if ((eta === null || eta === undefined) && rate && job.bytes_total) {
      eta = Math.max(0, job.bytes_total - done) / rate;
    }
    parts.push(formatEta(eta));
  }
  return parts.filter(Boolean).join(' · ');
}

export function jobTitle(job: PullJob): string {
  return job.file ? `${job.repo} · ${job.file}` : `${job.repo ?? job.id}`;
}

// --- errors ----------------------------------------------------------------------------------

/** What a refused pull means for the person, from the status the server chose (HUB_API). */
export function pullErrorText(status: number, code: string, message: string): string {
  switch (status) {
    case 507:
      return `Not enough free disk space for this model. ${message}`;
    case 403:
      return `This repository is gated or private. ${message}`;
    case 503:
      return `The Hugging Face Hub cannot be reached (offline, or HF_HUB_OFFLINE is set). ${message}`;
    case 404:
      return `Not found on the Hub. ${message}`;
    case 415:
      return `Not a GGUF or safetensors model. ${message}`;
    case 409:
      return `Already being pulled. ${message}`;
    default:
      return code && code !== `http_${status}` ? `${message} (${code})` : message;
  }
}

// --- catalog and hardware --------------------------------------------------------------------

export const ROLE_LABELS: Record<Role, string> = {
  chat: 'Chat',
  code: 'Code (inline completion)',
  embedding: 'Embeddings (documents)',
  rerank: 'Reranker (documents)'
};
const ROLE_ORDER: Role[] = ['chat', 'code', 'embedding', 'rerank'];

export interface CatalogGroup {
  role: Role;
  label: string;
  suggested: string | null;
  entries: CatalogEntry[];
}

/** The catalog by role, the suggested pick first, then smallest first. */
export function groupCatalog(catalog: Catalog | null): CatalogGroup[] {
  if (!catalog) {
    return [];
  }
  return ROLE_ORDER.map(role => {
    const suggested = catalog.suggested?.[role] ?? null;
    const entries = catalog.entries
      .filter(e => e.role === role)
      .sort((a, b) => Number(b.id === suggested) - Number(a.id === suggested) || a.size_bytes - b.size_bytes);
    return { role, label: ROLE_LABELS[role], suggested, entries };
  }).filter(g => g.entries.length > 0);
}

export interface Badge {
  text: string;
  kind: 'gpu' | 'cpu' | 'no';
  title: string;
}

export function fitsBadge(fits: Fits | null | undefined): Badge | null {
  if (!fits) {
    return null;
  }
  const need = fits.needed_bytes ? `needs ~${formatBytes(fits.needed_bytes)}` : '';
  const title = [need, fits.note].filter(Boolean).join(': ');
  if (fits.verdict === 'gpu') {
    return { text: 'fits GPU', kind: 'gpu', title };
  }
  if (fits.verdict === 'cpu') {
    return { text: 'fits RAM', kind: 'cpu', title };
  }
  return { text: 'too big', kind: 'no', title };
}

/** "RAM 24 GB (18 GB free) · GPU: none · 2 cores (AVX2) · disk 40 GB free" */
export function hardwareLine(hw: Hardware | null): string {
  if (!hw) {
    return '';
  }
  const parts = [`RAM ${formatBytes(hw.ram.total_bytes)} (${formatBytes(hw.ram.available_bytes)} free)`];
  if (hw.gpus.length) {
    parts.push(
      hw.gpus
        .map(g => `${g.name} ${formatBytes(g.vram_total_bytes)}${g.vram_free_bytes !== null ? ` (${formatBytes(g.vram_free_bytes)} free)` : ''}`)
        .join(', ')
    );
  } else {
    parts.push(hw.jetson?.detected ? 'Jetson (unified memory)' : 'no GPU');
  }
  const feats = hw.cpu.features.filter(f => /^(avx2|avx512f|neon)$/i.test(f)).map(f => f.toUpperCase());
  parts.push(`${hw.cpu.cores} cores${feats.length ? ` (${feats.join(', ')})` : ''}`);
  parts.push(`disk ${formatBytes(hw.disk.free_bytes)} free`);
  return parts.join(' · ');
}

// --- installed models and roles ----------------------------------------------------------------

export const SLOT_LABELS: Record<string, string> = {
  chat: 'default chat',
  inline: 'inline completion',
  embedding: 'embeddings',
  rerank: 'reranker'
};

/** The roles a model holds: the server's `roles` when sent, else read from GET /roles. */
export function rolesOf(model: InstalledModel, roles: Roles | null): string[] {
  if (Array.isArray(model.roles)) {
    return model.roles;
  }
  if (!roles) {
    return [];
  }
  return (['chat', 'inline', 'embedding', 'rerank'] as const).filter(slot => roles[slot] === model.id);
}

/** The roles a model can be given (by its kind). */
export function slotsFor(model: InstalledModel): ('chat' | 'inline' | 'embedding' | 'rerank')[] {
  const kind = model.kind as string;
  if (kind === 'embedding') {
    return ['embedding'];
  }
  if (kind === 'rerank') {
    return ['rerank'];
  }
  return ['chat', 'inline'];
}

/** Where a model runs: its device once loaded (with the GPU layers), else the backend that will serve it. */
export function whereItRuns(m: InstalledModel): string {
  if (m.source === 'remote') {
    return m.path ? `remote (${m.path})` : 'remote';
  }
  if (m.device) {
    const layers = typeof m.gpu_layers === 'number' && m.gpu_layers !== 0 && m.device !== 'cpu' ? `, ${m.gpu_layers < 0 ? 'all' : m.gpu_layers} layers` : '';
    return `on ${m.device}${layers}`;
  }
  return m.backend ?? '';
}

export function deletable(model: InstalledModel): boolean {
  return model.source === 'hub';
}
