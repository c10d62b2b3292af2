/** The Providers form (views/modelsProviders.tsx): its fields and pure helpers (jest: test/models.test.ts). */
import { Preset, ProviderDraft, ProviderTest } from './types';

export interface ProviderForm {
  /** the provider being edited (null: a new one) */
  editing: string | null;
  preset: string;
  name: string;
  base_url: string;
  api_key: string;
  api_key_env: string;
  models: string;
  clear_key: boolean;
}

export const emptyForm = (): ProviderForm => ({
  editing: null,
  preset: '',
  name: '',
  base_url: '',
  api_key: '',
  api_key_env: '',
  models: '',
  clear_key: false
});

/** Choosing a preset fills the base URL (and a name, unless one was typed). */
export function applyPreset(form: ProviderForm, preset: Preset | undefined): ProviderForm {
  if (!preset) {
    return { ...form, preset: '' };
  }
  const typedName = form.name && form.name !== form.preset;
  return {
    ...form,
    preset: preset.id,
    base_url: preset.base_url,
    name: typedName || form.editing ? form.name : preset.id,
    api_key_env: form.api_key_env || (preset.key_env && !form.api_key ? preset.key_env : '')
  };
}

/** What is wrong with the form before it is sent (null: nothing). */
export function formProblem(form: ProviderForm, keyringAvailable: boolean): string | null {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(form.name)) {
    return 'Name: letters, digits, dot, dash or underscore (it prefixes the model names).';
  }
  if (!/^https?:\/\/[^\s/]+/.test(form.base_url.trim())) {
    return 'Base URL: an http(s) URL such as http://localhost:11434/v1.';
  }
  if (form.api_key && form.api_key_env) {
    return 'Give a key or the name of an environment variable, not both.';
  }
  if (form.api_key && !keyringAvailable) {
    return 'No OS keyring on this server: put the key in an environment variable of the Jupyter server and give its name.';
  }
  if (form.api_key_env && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(form.api_key_env)) {
    return 'Environment variable: a name such as OPENAI_API_KEY.';
  }
  return null;
}

/** The request body of the form (the key only when typed; models split on commas). */
export function formDraft(form: ProviderForm): ProviderDraft {
  const draft: ProviderDraft = { name: form.name.trim(), base_url: form.base_url.trim() };
  if (form.api_key) {
    draft.api_key = form.api_key;
  } else if (form.api_key_env) {
    draft.api_key_env = form.api_key_env.trim();
  } else if (form.clear_key) {
    draft.clear_key = true;
  }
  const models = form.models
    .split(',')
    .map(m => m.trim())
    .filter(Boolean);
  if (models.length || form.editing) {
    draft.models = models;
  }
  if (form.preset) {
    draft.preset = form.preset;
  }
  return draft;
}

export function testSummary(t: ProviderTest): string {
  if (!t.ok) {
    return t.error ?? t.models_error ?? 'the test failed';
  }
  const ttft = t.ttft_s != null ? `first token after ${Math.round(t.ttft_s * 1000)} ms` : '';
  const listed = t.models_error ? `cannot list models (${t.models_error})` : `${t.models.length} model${t.models.length === 1 ? '' : 's'}`;
  return [listed, t.model ? `${t.model} answered` : '', ttft].filter(Boolean).join(' · ');
}
