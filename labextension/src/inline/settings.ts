/** Settings of inline completion, read from the plugin's settings (schema/plugin.json). */
import { DEFAULT_BUDGET, PromptBudget } from './prompt';

export interface InlineSettings {
  enabled: boolean;
  /** evaluate the active cell's context when it gets the cursor, before the first keystroke */
  warm: boolean;
  /** model id ('' = the server's default model) */
  model: string;
  /** wait after the last keystroke before asking (ms) */
  debounceMs: number;
  maxLines: number;
  budget: PromptBudget;
}

export const INLINE_DEFAULTS: InlineSettings = { enabled: true, warm: true, model: '', debounceMs: 250, maxLines: 4, budget: DEFAULT_BUDGET };

function int(v: unknown, fallback: number, min: number, max: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, Math.round(v))) : fallback;
}

export function inlineSettingsFrom(raw: Record<string, unknown>): InlineSettings {
  const d = INLINE_DEFAULTS;
  return {
    enabled: typeof raw.inlineCompletion === 'boolean' ? raw.inlineCompletion : d.enabled,
    warm: typeof raw.inlineWarm === 'boolean' ? raw.inlineWarm : d.warm,
    model: typeof raw.inlineModel === 'string' ? raw.inlineModel.trim() : d.model,
    debounceMs: int(raw.inlineDebounceMs, d.debounceMs, 0, 5000),
    maxLines: int(raw.inlineMaxLines, d.maxLines, 1, 50),
    budget: {
      prefixChars: int(raw.inlinePrefixChars, d.budget.prefixChars, 100, 100000),
      suffixChars: int(raw.inlineSuffixChars, d.budget.suffixChars, 0, 100000)
    }
  };
}
