/**
 * Context items attached to a chat message (pure): what the composer shows as chips while they
 * are fetched, and what the chat body's `context` carries (`{kind, label, text}`, seams D).
 */
import { codeBlock } from '../context';

export type ItemKind = 'file' | 'cell' | 'var' | 'error';

/** What the server receives and stores in the user message's `metadata.context`. */
export interface WireContext {
  kind: ItemKind;
  label: string;
  text: string;
}

export interface ContextItem extends WireContext {
  id: number;
  /** loading: being fetched; ready: will be sent; error: shown with `note`, never sent */
  state: 'loading' | 'ready' | 'error';
  /** why an item is in error ("kernel busy", "no such variable"), or a remark (truncated) */
  note?: string;
  /** the reference typed (`@var:df`): attaching it again replaces an item in error */
  ref?: string;
}

/** Per item: the most characters sent (the server validates sizes too). */
export const ITEM_MAX_CHARS = 12000;

export function toWire(items: readonly ContextItem[]): WireContext[] {
  return items.filter(i => i.state === 'ready').map(({ kind, label, text }) => ({ kind, label, text: text.slice(0, ITEM_MAX_CHARS) }));
}

/** The context list of a stored message (metadata.context), keeping only well-formed entries. */
export function contextOf(metadata: Record<string, unknown> | null | undefined): WireContext[] {
  const raw = metadata?.context;
  if (!Array.isArray(raw)) {
    return [];
  }
  return raw.filter(
    (c): c is WireContext => !!c && typeof c === 'object' && typeof c.label === 'string' && typeof c.text === 'string' && typeof c.kind === 'string'
  );
}

// --- cells -----------------------------------------------------------------------------------

/** An nbformat output, loosely typed (what `cell.model.outputs.toJSON()` returns). */
export type OutputJSON = { output_type?: unknown; [k: string]: unknown };

function joinText(v: unknown): string {
  return Array.isArray(v) ? v.join('') : typeof v === 'string' ? v : '';
}

/**
 * The outputs of a cell as text: streams and text/plain results trimmed to `max` characters in
 * all; images and other rich outputs are named, not sent (a model here reads text only).
 */
export function outputsText(outputs: readonly OutputJSON[], max = 2000): string {
  const parts: string[] = [];
  for (const o of outputs) {
    if (o.output_type === 'stream') {
      parts.push(joinText(o.text));
    } else if (o.output_type === 'error') {
      parts.push(`${String(o.ename)}: ${String(o.evalue)}`);
    } else if (o.output_type === 'execute_result' || o.output_type === 'display_data') {
      const data = (o.data ?? {}) as Record<string, unknown>;
      const rich = Object.keys(data).filter(k => k !== 'text/plain');
      const images = rich.filter(k => k.startsWith('image/'));
      if (images.length) {
        parts.push(`[${images.join(', ')} output, not sent]`);
      } else if ('text/plain' in data) {
        parts.push(joinText(data['text/plain']));
      } else if (rich.length) {
        parts.push(`[${rich.join(', ')} output, not sent]`);
      }
    }
  }
  const text = parts.join('\n').replace(/\n{3,}/g, '\n\n').trim();
  return text.length > max ? `${text.slice(0, max)}\n… (output trimmed)` : text;
}

/** A cell as a context item's text: its fenced source, then its outputs. */
export function cellText(source: string, outputs: readonly OutputJSON[], language: string, cellType = 'code'): string {
  if (cellType !== 'code') {
    return source;
  }
  const out = outputsText(outputs);
  return out ? `${codeBlock(source, language)}\n\nOutput:\n${codeBlock(out)}` : codeBlock(source, language);
}

// --- kernel variables ----------------------------------------------------------------------

/** What the kernel says about a variable (see kernelVars.ts for the expression that reads it). */
export interface VarInfo {
  missing?: boolean;
  type?: string;
  shape?: number[] | null;
  dtypes?: Record<string, string> | string | null;
  len?: number | null;
  preview?: string;
}

/** "(3, 2)" like Python prints a shape. */
export function shapeText(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** The chip label and the text sent for a variable. */
export function describeVar(name: string, info: VarInfo): { label: string; text: string } {
  const type = info.type ?? 'object';
  const short = type.split('.').pop() ?? type;
  const size = info.shape ? ` ${shapeText(info.shape)}` : typeof info.len === 'number' ? ` len ${info.len}` : '';
  const lines = [`${name}: ${type}${info.shape ? `, shape ${shapeText(info.shape)}` : ''}${typeof info.len === 'number' ? `, len ${info.len}` : ''}`];
  if (info.dtypes && typeof info.dtypes === 'object') {
    lines.push('dtypes: ' + Object.entries(info.dtypes).map(([k, v]) => `${k}: ${v}`).join(', '));
  } else if (typeof info.dtypes === 'string') {
    lines.push(`dtype: ${info.dtypes}`);
  }
  if (info.preview) {
    lines.push(codeBlock(info.preview));
  }
  return { label: `${name}: ${short}${size}`, text: lines.join('\n') };
}
