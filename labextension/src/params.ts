/**
 * Generation options: defaults from the Settings Editor, overridden per session.
 * Only the four options the composer edits are managed here; unknown keys are kept as they are.
 */
import { GenerationParams } from './types';

export interface ChatDefaults {
  model: string;
  systemPrompt: string;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number | null;
}

export const BUILTIN_DEFAULTS: ChatDefaults = {
  model: '',
  systemPrompt: '',
  temperature: 0.7,
  topP: 0.9,
  maxTokens: 512,
  seed: null
};

/** Read the settings registry's composite (untyped JSON) into ChatDefaults, tolerating junk. */
export function defaultsFromSettings(raw: Record<string, unknown> | null | undefined): ChatDefaults {
  const r = raw ?? {};
  const num = (k: string, fallback: number): number => {
    const v = r[k];
    return typeof v === 'number' && isFinite(v) ? v : fallback;
  };
  const seed = r.seed;
  return {
    model: typeof r.defaultModel === 'string' ? r.defaultModel : BUILTIN_DEFAULTS.model,
    systemPrompt: typeof r.systemPrompt === 'string' ? r.systemPrompt : BUILTIN_DEFAULTS.systemPrompt,
    temperature: num('temperature', BUILTIN_DEFAULTS.temperature),
    topP: num('topP', BUILTIN_DEFAULTS.topP),
    maxTokens: Math.round(num('maxTokens', BUILTIN_DEFAULTS.maxTokens)),
    seed: typeof seed === 'number' && Number.isInteger(seed) ? seed : null
  };
}

/** The params sent with a request: defaults, then the session's own values. */
export function effectiveParams(defaults: ChatDefaults, session: GenerationParams | null | undefined): GenerationParams {
  const out: GenerationParams = {
    temperature: defaults.temperature,
    top_p: defaults.topP,
    max_tokens: defaults.maxTokens
  };
  if (defaults.seed !== null) {
    out.seed = defaults.seed;
  }
  for (const [k, v] of Object.entries(session ?? {})) {
    if (v === null || v === undefined || v === '') {
      if (k === 'seed') {
        delete out.seed;
      }
      continue;
    }
    out[k] = v;
  }
  return out;
}

export interface ParamErrors {
  temperature?: string;
  top_p?: string;
  max_tokens?: string;
  seed?: string;
}

/**
 * Parse the option form's text fields. Empty means "use the default" (left out). Returns the
 * params to store on the session, or the errors to show next to the fields.
 */
export function parseParamForm(form: {
  temperature: string;
  top_p: string;
  max_tokens: string;
  seed: string;
}): { params: GenerationParams; errors: ParamErrors } {
  const params: GenerationParams = {};
  const errors: ParamErrors = {};
  const t = form.temperature.trim();
  if (t) {
    const v = Number(t);
    if (!isFinite(v) || v < 0 || v > 2) {
      errors.temperature = 'A number from 0 to 2';
    } else {
      params.temperature = v;
    }
  }
  const p = form.top_p.trim();
  if (p) {
    const v = Number(p);
    if (!isFinite(v) || v <= 0 || v > 1) {
      errors.top_p = 'A number above 0, at most 1';
    } else {
      params.top_p = v;
    }
  }
  const m = form.max_tokens.trim();
  if (m) {
    const v = Number(m);
    if (!Number.isInteger(v) || v < 1 || v > 32768) {
      errors.max_tokens = 'A whole number from 1 to 32768';
    } else {
      params.max_tokens = v;
    }
  }
  const s = form.seed.trim();
  if (s) {
    const v = Number(s);
    if (!Number.isInteger(v) || v < 0 || v > 2 ** 32 - 1) {
      errors.seed = 'A whole number from 0 to 4294967295';
    } else {
      params.seed = v;
    }
  }
  return { params, errors };
}

export function paramFormFrom(params: GenerationParams | null | undefined): {
  temperature: string;
  top_p: string;
  max_tokens: string;
  seed: string;
} {
  const s = (v: unknown): string => (typeof v === 'number' ? String(v) : '');
  const p = params ?? {};
  return { temperature: s(p.temperature), top_p: s(p.top_p), max_tokens: s(p.max_tokens), seed: s(p.seed) };
}
