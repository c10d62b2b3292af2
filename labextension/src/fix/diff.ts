/**
 * A line diff of a cell before and after a suggested fix, for the preview (pure). The diff itself
 * is jsdiff's (`diff` on npm: small, no dependencies, the diff library most JS tools use).
 */
import { diffLines } from 'diff';

export interface DiffLine {
  kind: 'same' | 'add' | 'del';
  text: string;
}

export function lineDiff(before: string, after: string): DiffLine[] {
  const rows: DiffLine[] = [];
  const norm = (s: string) => (s.endsWith('\n') ? s : s + '\n');
  for (const part of diffLines(norm(before), norm(after))) {
    const kind = part.added ? 'add' : part.removed ? 'del' : 'same';
    const lines = part.value.replace(/\n$/, '').split('\n');
    for (const text of lines) {
      rows.push({ kind, text });
    }
  }
  return rows;
}

/** "+2 −1": what a diff changes, for the preview's title. */
export function diffSummary(rows: DiffLine[]): string {
  const add = rows.filter(r => r.kind === 'add').length;
  const del = rows.filter(r => r.kind === 'del').length;
  return add || del ? `+${add} −${del}` : 'no change';
}
