import {
  fitsBadge,
  formatEta,
  groupCatalog,
  hardwareLine,
  jobFor,
  mergeJobs,
  newlyDone,
  pullErrorText,
  pullLabel,
  rolesOf,
  sampleJob,
  slotsFor,
  visibleJobs,
  watch,
  whereItRuns
} from '../src/models/state';
import { applyPreset, emptyForm, formDraft, formProblem, testSummary } from '../src/models/providerForm';
import { ModelsApi } from '../src/models/api';
import { ModelsStore } from '../src/models/store';
import { Catalog, CatalogEntry, Hardware, InstalledModel, PullJob } from '../src/models/types';

/** a small machine, as GET /hardware answers */
const HARDWARE: Hardware = {
  cpu: { cores: 2, model: null, features: [] },
  ram: { total_bytes: 1, available_bytes: 1 },
  disk: { path: '/', free_bytes: 1 },
  gpus: [],
  jetson: { detected: false },
  llama_cpp: { installed: false }
};

function job(id: string, patch: Partial<PullJob> = {}): PullJob {
  return {
    id,
    kind: 'pull',
    state: 'running',
    progress: null,
    error: null,
    actions: ['cancel'],
    created_at: 1_796_562_000 + id.length,
    repo: 'org/model-GGUF',
    file: 'model.Q4_K_M.gguf',
    bytes_done: 0,
    bytes_total: 100_000_000,
    rate: null,
    eta_s: null,
    ...patch
  };
}

function entry(id: string, role: CatalogEntry['role'], size: number, verdict: 'gpu' | 'cpu' | 'no' = 'cpu'): CatalogEntry {
  return {
    id,
    role,
    name: id,
    repo: `org/${id}`,
    file: `${id}.gguf`,
    parameters: 1e9,
    quant: 'Q4_K_M',
    size_bytes: size,
    context_length: 8192,
    licence: 'apache-2.0',
    fim: role === 'code',
    tools: role === 'chat',
    notes: '',
    fits: { verdict, needed_bytes: size * 1.2, note: 'weights + KV cache' },
    installed: false,
    model_id: null
  };
}

function model(id: string, kind: string, source = 'hub'): InstalledModel {
  return { id, kind: kind as InstalledModel['kind'], source, format: 'gguf', state: 'unloaded' };
}

describe('pull jobs', () => {
  it('merges snapshots by id, newest first, and ignores other kinds', () => {
    let jobs = mergeJobs([], [job('a', { bytes_done: 10 })]);
    jobs = mergeJobs(jobs, [job('bb', { bytes_done: 5 }), { ...job('c'), kind: 'ingest' }]);
    jobs = mergeJobs(jobs, [job('a', { bytes_done: 50 })]);
    expect(jobs.map(j => j.id)).toEqual(['bb', 'a']);
    expect(jobs[1].bytes_done).toBe(50);
  });

  it('reports jobs that turned done, once', () => {
    const before = [job('a'), job('b', { state: 'done' })];
    const after = [job('a', { state: 'done', model_id: 'org/model' }), job('b', { state: 'done' })];
    expect(newlyDone(before, after).map(j => j.id)).toEqual(['a']);
    expect(newlyDone(after, after)).toEqual([]);
  });

  it('finds the newest job of a repo and file', () => {
    const jobs = mergeJobs([], [job('a', { file: 'x.gguf' }), job('bb', { file: 'y.gguf' })]);
    expect(jobFor(jobs, 'org/model-GGUF', 'y.gguf')?.id).toBe('bb');
    expect(jobFor(jobs, 'org/model-GGUF', null)).toBeNull();
  });

  it('measures a rate when the server sends none and labels bytes, rate and ETA', () => {
    let samples = sampleJob({}, job('a', { bytes_done: 10_000_000 }), 1000);
    samples = sampleJob(samples, job('a', { bytes_done: 30_000_000 }), 3000);
    expect(samples.a.rate).toBe(10_000_000);
    const label = pullLabel(job('a', { bytes_done: 30_000_000 }), samples.a);
    expect(label).toBe('30.0 MB of 100 MB · 10.0 MB/s · 7 s left');
    // the server's own rate and ETA win
    expect(pullLabel(job('a', { bytes_done: 50_000_000, rate: 2_000_000, eta_s: 125 }))).toBe('50.0 MB of 100 MB · 2.0 MB/s · 2 min 5 s left');
    // a finished job shows only its size
    expect(pullLabel(job('a', { state: 'done', bytes_done: 100_000_000 }))).toBe('100 MB of 100 MB');
  });

  it('shows running and resumable jobs, and finished ones only if this page watched them run', () => {
    const jobs = [
      job('run'),
      job('old', { state: 'done', actions: [] }),
      job('cut', { state: 'interrupted', actions: ['resume'] }),
      job('seen', { state: 'done', actions: [] })
    ];
    const watched = watch(watch([], [job('seen')]), [job('seen')]);
    expect(watched).toEqual(['seen']);
    expect(visibleJobs(jobs, watched).map(j => j.id)).toEqual(['run', 'cut', 'seen']);
  });

  it('formats ETAs', () => {
    expect(formatEta(5)).toBe('5 s left');
    expect(formatEta(3700)).toBe('1 h 2 min left');
    expect(formatEta(null)).toBe('');
  });
});

describe('errors of a pull say what to do', () => {
  it.each([
    [507, 'storage_full', 'need 5 GB', /disk space/],
    [403, 'gated', 'set HF_TOKEN', /gated or private.*HF_TOKEN/],
    [503, 'hub_unreachable', 'offline', /cannot be reached/],
    [415, 'unsupported_media_type', 'x.bin', /GGUF or safetensors/]
  ])('%i', (status, code, message, pattern) => {
    expect(pullErrorText(status, code, message)).toMatch(pattern);
  });
  it('keeps other codes', () => {
    expect(pullErrorText(400, 'invalid_value', 'repo must be owner/name')).toBe('repo must be owner/name (invalid_value)');
  });
});

describe('catalog and hardware', () => {
  const catalog: Catalog = {
    entries: [entry('big-chat', 'chat', 5e9, 'no'), entry('small-chat', 'chat', 1e9), entry('mid-chat', 'chat', 2e9), entry('emb', 'embedding', 1e8)],
    suggested: { chat: 'mid-chat', embedding: null },
    hardware: HARDWARE
  };

  it('groups by role, the suggested pick first, then by size', () => {
    const groups = groupCatalog(catalog);
    expect(groups.map(g => g.role)).toEqual(['chat', 'embedding']);
    expect(groups[0].entries.map(e => e.id)).toEqual(['mid-chat', 'small-chat', 'big-chat']);
    expect(groups[0].suggested).toBe('mid-chat');
    expect(groupCatalog(null)).toEqual([]);
  });

  it('turns fits into badges', () => {
    expect(fitsBadge({ verdict: 'gpu', needed_bytes: 2e9, note: '' })?.text).toBe('fits GPU');
    expect(fitsBadge({ verdict: 'cpu', needed_bytes: 2e9, note: 'in RAM' })).toEqual({ text: 'fits RAM', kind: 'cpu', title: 'needs ~2.0 GB: in RAM' });
    expect(fitsBadge({ verdict: 'no', needed_bytes: 9e10, note: '' })?.kind).toBe('no');
    expect(fitsBadge(undefined)).toBeNull();
  });

  it('sums up the hardware in one line', () => {
    const hw: Hardware = {
      cpu: { cores: 2, model: 'x', features: ['sse4_2', 'avx2'] },
      ram: { total_bytes: 24e9, available_bytes: 18e9 },
      disk: { path: '/d', free_bytes: 40e9 },
      gpus: [],
      jetson: { detected: false },
      llama_cpp: { installed: true }
    };
    expect(hardwareLine(hw)).toBe('RAM 24.0 GB (18.0 GB free) · no GPU · 2 cores (AVX2) · disk 40.0 GB free');
    const gpu = { ...hw, gpus: [{ index: 0, name: 'H100', vram_total_bytes: 80e9, vram_free_bytes: 79e9, source: 'nvml' }] };
    expect(hardwareLine(gpu)).toContain('H100 80.0 GB (79.0 GB free)');
  });
});

describe('roles', () => {
  const roles = { chat: 'a', inline: 'a', embedding: 'e', rerank: null, effective: {} };
  it('reads a model roles from GET /roles unless the model says', () => {
    expect(rolesOf(model('a', 'chat'), roles)).toEqual(['chat', 'inline']);
    expect(rolesOf({ ...model('a', 'chat'), roles: ['chat'] }, roles)).toEqual(['chat']);
    expect(rolesOf(model('a', 'chat'), null)).toEqual([]);
  });
  it('says where a model runs', () => {
    expect(whereItRuns({ ...model('a', 'chat'), backend: 'llamacpp' })).toBe('llamacpp');
    expect(whereItRuns({ ...model('a', 'chat'), device: 'cuda', gpu_layers: -1 })).toBe('on cuda, all layers');
    expect(whereItRuns({ ...model('a', 'chat'), device: 'cpu', gpu_layers: 0 })).toBe('on cpu');
    expect(whereItRuns({ ...model('p/m', 'chat', 'remote'), path: 'http://h/v1' })).toBe('remote (http://h/v1)');
  });

  it('offers the roles a kind can take', () => {
    expect(slotsFor(model('a', 'chat'))).toEqual(['chat', 'inline']);
    expect(slotsFor(model('e', 'embedding'))).toEqual(['embedding']);
  });
});

describe('the provider form', () => {
  const ollama = { id: 'ollama', label: 'Ollama', base_url: 'http://localhost:11434/v1' };
  const openai = { id: 'openai', label: 'OpenAI', base_url: 'https://api.openai.com/v1', needs_key: true, key_env: 'OPENAI_API_KEY' };

  it('fills the base URL and a name from a preset, keeping a typed name', () => {
    const f = applyPreset(emptyForm(), ollama);
    expect(f).toMatchObject({ preset: 'ollama', name: 'ollama', base_url: 'http://localhost:11434/v1' });
    expect(applyPreset({ ...emptyForm(), name: 'mine' }, ollama).name).toBe('mine');
    expect(applyPreset(f, openai)).toMatchObject({ name: 'openai', api_key_env: 'OPENAI_API_KEY' });
  });

  it('says what is wrong before sending', () => {
    const ok = { ...emptyForm(), name: 'local', base_url: 'http://127.0.0.1:8080/v1' };
    expect(formProblem(ok, false)).toBeNull();
    expect(formProblem({ ...ok, name: 'a b' }, true)).toMatch(/Name/);
    expect(formProblem({ ...ok, base_url: 'localhost:8080' }, true)).toMatch(/Base URL/);
    expect(formProblem({ ...ok, api_key: 'sk-1' }, false)).toMatch(/No OS keyring/);
    expect(formProblem({ ...ok, api_key: 'sk-1' }, true)).toBeNull();
    expect(formProblem({ ...ok, api_key: 'sk-1', api_key_env: 'K' }, true)).toMatch(/not both/);
  });

  it('sends the key only when typed, models split on commas', () => {
    const f = { ...emptyForm(), name: 'x', base_url: 'http://h/v1 ', models: 'a, b,,c' };
    expect(formDraft(f)).toEqual({ name: 'x', base_url: 'http://h/v1', models: ['a', 'b', 'c'] });
    expect(formDraft({ ...f, models: '', api_key: 'sk-1' })).toEqual({ name: 'x', base_url: 'http://h/v1', api_key: 'sk-1' });
    expect(formDraft({ ...f, models: '', editing: 'x', clear_key: true })).toEqual({ name: 'x', base_url: 'http://h/v1', clear_key: true, models: [] });
  });

  it('summarises a test', () => {
    const t = { ok: true, models: ['m1', 'm2'], models_error: null, model: 'm1', answer: 'Hi!', ttft_s: 0.1234, total_s: 0.5, error: null };
    expect(testSummary(t)).toBe('2 models · m1 answered · first token after 123 ms');
    expect(testSummary({ ...t, ok: false, error: 'HTTP 401: bad key' })).toBe('HTTP 401: bad key');
  });
});

/** A fake server for the store's mechanics (timing of the poll), named as such. */
function fakeApi(overrides: Partial<ModelsApi> = {}): ModelsApi & { calls: string[] } {
  const calls: string[] = [];
  const api: ModelsApi = {
    hardware: async () => HARDWARE,
    installed: async () => [],
    catalog: async () => ({ entries: [], suggested: {}, hardware: HARDWARE }),
    roles: async () => ({ chat: 'a', inline: null, embedding: 'e', rerank: null, effective: {} }),
    setRoles: async patch => ({ chat: String(patch.chat ?? 'a'), inline: null, embedding: 'e', rerank: null, effective: {} }),
    deleteModel: async () => ({}),
    search: async () => [],
    files: async repo => ({ repo, revision: 'r', files: [] }),
    pull: async () => ({ job: job('a') }),
    pullJobs: async () => [],
    cancelJob: async id => job(id, { state: 'cancelled', actions: [] }),
    resumeJob: async id => job(id),
    providers: async () => ({ providers: [], presets: [], keyring: { available: false, backend: null, note: '' } }),
    addProvider: async d => ({ name: d.name, base_url: d.base_url, source: 'user', editable: true, key: 'none', api_key_env: null, key_set: false, models: [] }),
    updateProvider: async () => {
      throw new Error('no');
    },
    deleteProvider: async () => ({}),
    testProvider: async () => ({ ok: true, models: [], models_error: null, model: null, answer: '', ttft_s: null, total_s: null, error: null }),
    ...overrides
  };
  return Object.assign(
    Object.fromEntries(
      Object.entries(api).map(([k, fn]) => [
        k,
        (...args: unknown[]) => {
          calls.push(k);
          return (fn as (...a: unknown[]) => unknown)(...args);
        }
      ])
    ) as unknown as ModelsApi,
    { calls }
  );
}

describe('ModelsStore', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('polls a running pull every second until it is done, then refreshes the model lists', async () => {
    const snapshots = [[job('a', { bytes_done: 50_000_000 })], [job('a', { state: 'done', actions: [], bytes_done: 100_000_000, model_id: 'org/model' })]];
    const api = fakeApi({ pullJobs: async () => snapshots.shift() ?? [] });
    let changed = 0;
    const store = new ModelsStore(api, { onModelsChanged: () => changed++ });
    expect(await store.pull('org/model-GGUF', 'model.Q4_K_M.gguf')).toBe(true);
    expect(store.getState().jobs[0].state).toBe('running');
    await jest.advanceTimersByTimeAsync(1000);
    expect(store.getState().jobs[0].bytes_done).toBe(50_000_000);
    await jest.advanceTimersByTimeAsync(1000);
    expect(store.getState().jobs[0].state).toBe('done');
    await jest.advanceTimersByTimeAsync(0);
    expect(changed).toBe(1);
    expect(store.getState().notice).toMatch(/Pulled org\/model/);
    const polls = api.calls.filter(c => c === 'pullJobs').length;
    await jest.advanceTimersByTimeAsync(5000);
    expect(api.calls.filter(c => c === 'pullJobs').length).toBe(polls); // no job runs: no more polling
    store.dispose();
  });

  it('shows a refused pull as a clear error and starts no poll', async () => {
    const { ApiError } = await import('../src/api');
    const api = fakeApi({
      pull: async () => {
        throw new ApiError(507, 'storage_full', 'needs 4.1 GB, 1.0 GB free');
      }
    });
    const store = new ModelsStore(api);
    expect(await store.pull('org/x', 'x.gguf')).toBe(false);
    expect(store.getState().errors.pull).toMatch(/Not enough free disk space.*4.1 GB/);
    await jest.advanceTimersByTimeAsync(3000);
    expect(api.calls).not.toContain('pullJobs');
    store.dispose();
  });

  it('saves a provider from the form, refreshes the model lists and never keeps the key', async () => {
    const sent: unknown[] = [];
    const api = fakeApi({
      addProvider: async d => {
        sent.push(d);
        return { name: d.name, base_url: d.base_url, source: 'user', editable: true, key: 'keyring', api_key_env: null, key_set: true, models: [] };
      }
    });
    let changed = 0;
    const store = new ModelsStore(api, { onModelsChanged: () => changed++ });
    const form = { ...emptyForm(), name: 'local', base_url: 'http://127.0.0.1:8080/v1', api_key: 'sk-x' };
    expect(await store.saveProvider(form)).toBe(true);
    expect(sent).toEqual([{ name: 'local', base_url: 'http://127.0.0.1:8080/v1', api_key: 'sk-x' }]);
    expect(changed).toBe(1);
    expect(api.calls).toEqual(expect.arrayContaining(['providers', 'installed', 'roles']));
    expect(JSON.stringify(store.getState())).not.toContain('sk-x');
    // a draft is tested under its name, without the form-only fields
    await store.testProvider({ ...form, preset: 'llama-server' });
    expect(store.getState().test?.ok).toBe(true);
    store.dispose();
  });
});
