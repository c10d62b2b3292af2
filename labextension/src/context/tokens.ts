/**
 * @-references typed in the composer (pure): `@file:path`, `@cell` (the active cell), `@cell:N`
 * (cell N, 1-based as JupyterLab shows them) and `@var:name` (a live kernel variable).
 */

export type RefKind = 'file' | 'cell' | 'var';

/** What is being typed at the cursor: a kind not chosen yet, or the argument of one. */
export interface AtToken {
  /** offset of the `@` in the text */
  start: number;
  /** offset just after the token (the cursor) */
  end: number;
  /** null while the kind itself is being typed (`@`, `@fi`) */
  kind: RefKind | null;
  /** what follows `kind:` (or the partial kind when `kind` is null) */
  arg: string;
}

export const KINDS: { kind: RefKind; insert: string; hint: string }[] = [
  { kind: 'file', insert: '@file:', hint: 'a file under the server root' },
  { kind: 'cell', insert: '@cell', hint: 'the active cell (or @cell:N) with its outputs' },
  { kind: 'var', insert: '@var:', hint: 'a variable of the notebook’s kernel' }
];

/**
 * The @-token ending at `cursor`, or null. An `@` counts only at the start or after white space
 * (so e-mail addresses and decorators inside code do not open the menu).
 */
export function tokenAt(text: string, cursor: number): AtToken | null {
  const before = text.slice(0, cursor);
  const m = /(^|\s)@([A-Za-z]*)(?::([^\s]*))?$/.exec(before);
  if (!m) {
    return null;
  }
  const start = before.length - m[0].length + m[1].length;
  const word = m[2];
  if (m[3] === undefined) {
    // `@cell` alone is a whole reference; anything else is a kind being typed
    return { start, end: cursor, kind: word === 'cell' ? 'cell' : null, arg: word === 'cell' ? '' : word };
  }
  const kind = KINDS.find(k => k.kind === word)?.kind;
  return kind ? { start, end: cursor, kind, arg: m[3] } : null;
}

/** The kinds whose name starts with what was typed after `@`. */
export function matchingKinds(partial: string): typeof KINDS {
  const p = partial.toLowerCase();
  return KINDS.filter(k => k.kind.startsWith(p));
}

/** A complete reference parsed: `@cell:3` -> {kind: 'cell', arg: '3'}; null when malformed. */
export function parseRef(ref: string): { kind: RefKind; arg: string } | null {
  const m = /^@(file|cell|var)(?::(.*))?$/.exec(ref.trim());
  if (!m) {
    return null;
  }
  const kind = m[1] as RefKind;
  const arg = m[2] ?? '';
  if (kind === 'cell' && arg !== '' && !/^[1-9]\d*$/.test(arg)) {
    return null;
  }
  if (kind === 'var' && !isIdentifier(arg)) {
    return null;
  }
  if (kind === 'file' && !arg) {
    return null;
  }
  return { kind, arg };
}

/** A Python identifier (the only variable references sent to a kernel). */
export function isIdentifier(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

/** The text with the token replaced (e.g. removed once it became a chip). */
export function replaceToken(text: string, token: AtToken, replacement: string): { text: string; cursor: number } {
  let after = text.slice(token.end);
  if (!replacement && after.startsWith(' ') && (token.start === 0 || /\s$/.test(text.slice(0, token.start)))) {
    after = after.slice(1);
  }
  return { text: text.slice(0, token.start) + replacement + after, cursor: token.start + replacement.length };
}

/** For `@file:` completion: the folder listed and the name typed so far. */
export function splitPath(arg: string): { dir: string; name: string } {
  const cut = arg.lastIndexOf('/');
  return cut < 0 ? { dir: '', name: arg } : { dir: arg.slice(0, cut), name: arg.slice(cut + 1) };
}

const MARK = '\u0000';

/** A complete reference typed by hand in a message, as found by {@link typedRefs}. */
export interface TypedRef {
  kind: RefKind;
  arg: string;
  /** the text as typed, e.g. `@cell:2` */
  raw: string;
}

/**
 * The references typed by hand in a message about to be sent (`@cell How many rows…`,
 * `@cell:2`, `@file:docs/gui.md`, `@var:df`): they become context chips like picked ones, and
 * leave the text. Only at the start or after white space, and ended by white space, the end, or
 * a closing `,` `.` `;` `:` `?` `!` `)` (so `see @cell:2.` works); code fences are left alone.
 * When nothing but references was typed, the text is kept as it is (there is no question left).
 */
export function typedRefs(text: string): { refs: TypedRef[]; text: string } {
  const refs: TypedRef[] = [];
  const parts = text.split(/(```[\s\S]*?(?:```|$))/);
  const out = parts.map((part, i) => {
    if (i % 2 === 1) {
      return part; // a fenced block: code, not references
    }
    return part.replace(/(^|\s)(@(?:file|cell|var)(?::[^\s]*)?)(?=\s|$)/g, (whole, lead: string, token: string) => {
      const trail = /[,.;:?!)]+$/.exec(token)?.[0] ?? '';
      const raw = trail ? token.slice(0, -trail.length) : token;
      const ref = parseRef(raw);
      if (!ref) {
        return whole;
      }
      if (!refs.some(r => r.kind === ref.kind && r.arg === ref.arg)) {
        refs.push({ ...ref, raw });
      }
      return (trail ? '' : lead) + MARK + trail; // `with @file:a.md, and` -> `with, and`
    });
  });
  // a removed reference takes one space after it along (`@cell How many` -> `How many`)
  const rest = out
    .join('')
    .replace(new RegExp(`(^|\\s)${MARK} ?`, 'g'), '$1')
    .replace(new RegExp(MARK, 'g'), '')
    .trim();
  return { refs, text: rest ? rest : text.trim() };
}
