/** Small display helpers (pure). */
import { Citation, Metrics, ModelInfo, Session } from './types';

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !isFinite(n) || n < 0) {
    return '';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function formatParameters(n: number | null | undefined): string {
  if (!n || n <= 0) {
    return '';
  }
  if (n >= 1e9) {
    return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
  }
  if (n >= 1e6) {
    return `${Math.round(n / 1e6)}M`;
  }
  return `${Math.round(n / 1e3)}K`;
}

/** "TTFT 0.09 s · 17.8 tok/s · 64 tokens" (parts that are missing are left out). */
export function formatMetrics(m: Metrics | null | undefined): string {
  if (!m) {
    return '';
  }
  const parts: string[] = [];
  if (typeof m.ttft_s === 'number') {
    parts.push(m.ttft_s < 1 ? `TTFT ${Math.round(m.ttft_s * 1000)} ms` : `TTFT ${m.ttft_s.toFixed(2)} s`);
  }
  if (typeof m.tokens_per_s === 'number') {
    parts.push(`${m.tokens_per_s.toFixed(1)} tok/s`);
  }
  if (typeof m.completion_tokens === 'number') {
    // a follow-up served from the prompt cache reports 0 prompt tokens evaluated: say nothing then
    const prompt = typeof m.prompt_tokens === 'number' && m.prompt_tokens > 0 ? ` (+${m.prompt_tokens} prompt)` : '';
    parts.push(`${m.completion_tokens} tokens${prompt}`);
  }
  if (typeof m.total_s === 'number') {
    parts.push(`${m.total_s.toFixed(1)} s`);
  }
  if (m.finish_reason === 'length') {
    parts.push('max tokens reached');
  }
  return parts.join(' · ');
}

/** "just now", "5 min ago", "3 h ago", "yesterday", else a short date. */
export function formatWhen(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) {
    return '';
  }
  const t = new Date(iso);
  if (isNaN(t.getTime())) {
    return '';
  }
  const s = (now.getTime() - t.getTime()) / 1000;
  if (s < 60) {
    return 'just now';
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ago`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h ago`;
  }
  if (s < 2 * 86400) {
    return 'yesterday';
  }
  const sameYear = t.getFullYear() === now.getFullYear();
  return t.toLocaleDateString(undefined, {
    month: 'short',
    day: 'numeric',
    ...(sameYear ? {} : { year: 'numeric' })
  });
}

export function sessionTitle(s: Pick<Session, 'title'>): string {
  const t = (s.title ?? '').trim();
  return t || 'New chat';
}

export function sessionTokens(s: Pick<Session, 'prompt_tokens' | 'completion_tokens'>): number {
  return (s.prompt_tokens ?? 0) + (s.completion_tokens ?? 0);
}

export function modelLabel(m: ModelInfo): string {
  const bits = [formatParameters(m.parameters), formatBytes(m.size_bytes)].filter(Boolean);
  return bits.length ? `${m.id} (${bits.join(', ')})` : m.id;
}

export function modelStateLabel(m: ModelInfo): string {
  switch (m.state) {
    case 'loaded':
      return m.device ? `loaded on ${m.device}` : 'loaded';
    case 'loading': {
      const p = typeof m.progress === 'number' ? ` ${Math.round(m.progress * 100)}%` : '';
      return `loading${p}${m.message ? `: ${m.message}` : ''}`;
    }
    case 'error':
      return 'failed to load';
    default:
      return 'not loaded';
  }
}

/**
 * Where a citation points, from the RAG location dict: `page` (1-based), `cell` (0-based index),
 * `cells` ([first, last], 0-based), `lines` ([first, last], 1-based), `heading` ("Intro > Setup").
 */
export interface CitationTarget {
  page: number | null;
  cell: number | null;
  line: number | null;
  lastLine: number | null;
  heading: string | null;
}

export function citationTarget(c: Citation): CitationTarget {
  const loc = (c.location ?? {}) as Record<string, unknown>;
  const num = (v: unknown): number | null => (typeof v === 'number' && isFinite(v) ? v : null);
  const pair = (v: unknown): [number, number] | null =>
    Array.isArray(v) && v.length === 2 && num(v[0]) !== null && num(v[1]) !== null ? [v[0], v[1]] : null;
  const lines = pair(loc.lines);
  const cells = pair(loc.cells);
  return {
    page: num(loc.page),
    cell: num(loc.cell) ?? num(loc.cell_index) ?? (cells ? cells[0] : null),
    line: lines ? lines[0] : num(loc.line) ?? num(loc.start_line),
    lastLine: lines ? lines[1] : null,
    heading: typeof loc.heading === 'string' && loc.heading ? loc.heading : null
  };
}

/** A human label for where a citation points: "notes.md, lines 3-9", "report.pdf, p. 3". */
export function citationLabel(c: Citation): string {
  const name = c.source.split('/').pop() || c.source;
  const t = citationTarget(c);
  if (t.page !== null) {
    return `${name}, p. ${t.page}`;
  }
  if (t.cell !== null) {
    return `${name}, cell ${t.cell + 1}`;
  }
  if (t.line !== null) {
    return t.lastLine !== null && t.lastLine !== t.line ? `${name}, lines ${t.line}-${t.lastLine}` : `${name}, line ${t.line}`;
  }
  if (t.heading) {
    return `${name} › ${t.heading}`;
  }
  return name;
}

/**
 * The editor selection of a cited line range (0-based positions): inclusive, "lines 2-5" runs
 * from the start of line 2 to the end of line 5. Null for a single line (the cursor goes there).
 */
export function citationSelection(
  t: CitationTarget,
  lineLength: (line: number) => number
): { start: { line: number; column: number }; end: { line: number; column: number } } | null {
  if (t.line === null || t.lastLine === null || t.lastLine <= t.line) {
    return null;
  }
  const last = t.lastLine - 1;
  return { start: { line: Math.max(0, t.line - 1), column: 0 }, end: { line: last, column: lineLength(last) } };
}

/**
 * An answer's text split at its inline source markers: `[2]` becomes the number 2 when the
 * answer has at least 2 sources (RAG_INSTRUCTIONS asks the model to cite as [1], [2]); other
 * brackets stay text. `[1][3]` and `[1, 2]` are split too.
 */
export function splitCiteMarkers(text: string, count: number): (string | number)[] {
  const out: (string | number)[] = [];
  let last = 0;
  for (const m of text.matchAll(/\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g)) {
    const nums = m[1].split(',').map(x => Number(x.trim()));
    if (!nums.every(n => n >= 1 && n <= count)) {
      continue;
    }
    if (m.index! > last) {
      out.push(text.slice(last, m.index));
    }
    out.push(...nums);
    last = m.index! + m[0].length;
  }
  if (last < text.length) {
    out.push(text.slice(last));
  }
  return out;
}
