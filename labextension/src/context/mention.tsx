/**
 * @-context in the composer: the menu that opens while an `@` reference is typed, and the chips
 * of the attached items. Keys while the menu is open: ↑/↓ choose, Enter/Tab take, Escape closes.
 */
import { bugIcon, codeIcon, fileIcon, LabIcon, variableIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useRef, useState, useSyncExternalStore } from 'react';

import { Attachments } from './attachments';
import { ContextItem, ItemKind, WireContext } from './items';
import { AtToken, matchingKinds, parseRef, replaceToken, splitPath, tokenAt } from './tokens';

interface Option {
  key: string;
  label: string;
  hint?: string;
  /** replace the token with this text and keep typing (a kind, a folder) */
  insert?: string;
  /** attach this reference and drop the token */
  attach?: { kind: 'file' | 'cell' | 'var'; arg: string };
  disabled?: boolean;
}

const MAX_OPTIONS = 30;

/** JupyterLab's icons (an emoji may have no glyph in the fonts at hand) */
const KIND_ICON: Record<ItemKind, LabIcon> = { file: fileIcon, cell: codeIcon, var: variableIcon, error: bugIcon };

async function optionsFor(token: AtToken, attachments: Attachments): Promise<Option[]> {
  if (token.kind === null) {
    return matchingKinds(token.arg).map(k => ({ key: k.kind, label: k.insert, hint: k.hint, insert: k.insert }));
  }
  if (token.kind === 'cell') {
    const n = attachments.sources.cellCount();
    if (!n) {
      return [{ key: 'none', label: 'No notebook open', disabled: true }];
    }
    const opts: Option[] = token.arg ? [] : [{ key: 'active', label: '@cell', hint: 'the active cell', attach: { kind: 'cell', arg: '' } }];
    for (let i = 1; i <= n && opts.length < MAX_OPTIONS; i++) {
      if (String(i).startsWith(token.arg)) {
        opts.push({ key: `c${i}`, label: `@cell:${i}`, attach: { kind: 'cell', arg: String(i) } });
      }
    }
    return opts;
  }
  if (token.kind === 'file') {
    const { dir, name } = splitPath(token.arg);
    const entries = await attachments.sources.listDir(dir).catch(() => []);
    const listed: Option[] = entries
      .filter(e => e.name.toLowerCase().startsWith(name.toLowerCase()))
      .slice(0, MAX_OPTIONS)
      .map(e =>
        e.type === 'directory'
          ? { key: e.path, label: `${e.name}/`, insert: `@file:${e.path}/` }
          : { key: e.path, label: e.name, hint: dir || undefined, attach: { kind: 'file' as const, arg: e.path } }
      );
    // and matches anywhere under the root (fuzzy): `@file:gui` finds docs/gui.md from the top
    const fuzzy = token.arg && attachments.sources.findFiles ? await attachments.sources.findFiles(token.arg).catch(() => []) : [];
    const known = new Set(listed.map(o => o.key));
    for (const f of fuzzy) {
      if (!known.has(f.path) && listed.length < MAX_OPTIONS) {
        const folder = splitPath(f.path).dir;
        listed.push({ key: f.path, label: f.name, hint: folder || undefined, attach: { kind: 'file', arg: f.path } });
      }
    }
    return listed;
  }
  try {
    const vars = await attachments.variables();
    const opts = vars
      .filter(([name]) => name.startsWith(token.arg))
      .slice(0, MAX_OPTIONS)
      .map(([name, type]) => ({ key: name, label: name, hint: type, attach: { kind: 'var' as const, arg: name } }));
    return opts.length ? opts : [{ key: 'none', label: token.arg ? `No variable ${token.arg}…` : 'No variables yet', disabled: true }];
  } catch (err) {
    // a busy or missing kernel: say so; a name typed in full can still be attached (Enter)
    return [{ key: 'err', label: String((err as Error)?.message ?? err), disabled: true }];
  }
}

/** The menu state of a textarea: feed it the text and cursor, let it take keys first. */
export function useMentions(attachments: Attachments | undefined, text: string, onText: (t: string) => void, ref: React.RefObject<HTMLTextAreaElement>) {
  const [cursor, setCursor] = useState(0);
  // options belong to the token they were made for (a stale list must not take a key)
  const [listed, setListed] = useState<{ key: string; options: Option[] }>({ key: '', options: [] });
  const [active, setActive] = useState(0);
  const [closedAt, setClosedAt] = useState<number | null>(null);
  const token = attachments ? tokenAt(text, cursor) : null;
  const open = !!token && closedAt !== token.start;
  const tokenKey = token ? `${token.start}:${token.kind}:${token.arg}` : '';
  const options = open && listed.key === tokenKey ? listed.options : [];
  const ask = useRef(0);
  useEffect(() => {
    if (!token && closedAt !== null) {
      setClosedAt(null); // Escape closes the menu of one reference, not of the next one
    }
  }, [tokenKey]);
  useEffect(() => {
    if (!token || !attachments || !open) {
      return;
    }
    const n = ++ask.current;
    const key = tokenKey;
    optionsFor(token, attachments)
      .then(opts => {
        if (n === ask.current) {
          setListed({ key, options: opts });
          setActive(0);
        }
      })
      .catch(err => n === ask.current && setListed({ key, options: [{ key: 'err', label: String((err as Error)?.message ?? err), disabled: true }] }));
  }, [tokenKey, open]);

  const place = (value: string, at: number) => {
    onText(value);
    setCursor(at);
    requestAnimationFrame(() => {
      const el = ref.current;
      if (el) {
        el.focus();
        el.setSelectionRange(at, at);
      }
    });
  };
  const choose = (o: Option | undefined) => {
    if (!token || !attachments) {
      return;
    }
    if (!o || o.disabled) {
      // a complete reference typed by hand (e.g. `@var:df` while the kernel could not list)
      const ref = parseRef(text.slice(token.start, token.end));
      if (!ref) {
        return;
      }
      o = { key: 'typed', label: '', attach: ref };
    }
    if (o.insert !== undefined) {
      const r = replaceToken(text, token, o.insert);
      place(r.text, r.cursor);
    } else if (o.attach) {
      void attachments.add(o.attach.kind, o.attach.arg);
      const r = replaceToken(text, token, '');
      place(r.text, r.cursor);
    }
  };
  /** true when the key was the menu's */
  const onKeyDown = (e: React.KeyboardEvent<HTMLTextAreaElement>): boolean => {
    if (!open || !token) {
      return false;
    }
    const enabled = options.filter(o => !o.disabled);
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!enabled.length) {
        return false;
      }
      e.preventDefault();
      const step = e.key === 'ArrowDown' ? 1 : -1;
      setActive((active + step + options.length) % options.length);
      return true;
    }
    if (e.key === 'Enter' || e.key === 'Tab') {
      // never sends while a reference is being typed (its options may still be loading)
      e.preventDefault();
      choose(options[active]);
      return true;
    }
    if (e.key === 'Escape') {
      e.preventDefault();
      setClosedAt(token.start);
      return true;
    }
    return false;
  };
  const onSelect = (e: React.SyntheticEvent<HTMLTextAreaElement>) => setCursor(e.currentTarget.selectionStart ?? 0);
  const menu =
    open && options.length ? (
      <ul className="jp-ChatExt-mentionMenu" role="listbox" aria-label="Context to attach">
        {options.map((o, i) => (
          <li
            key={o.key}
            role="option"
            aria-selected={i === active}
            aria-disabled={o.disabled}
            className={`jp-ChatExt-mentionOption${i === active ? ' jp-mod-active' : ''}${o.disabled ? ' jp-mod-disabled' : ''}`}
            onMouseDown={e => {
              e.preventDefault(); // keep the focus in the textarea
              if (!o.disabled) {
                choose(o);
              }
            }}
          >
            <span className="jp-ChatExt-mentionLabel">{o.label}</span>
            {o.hint ? <span className="jp-ChatExt-mentionHint">{o.hint}</span> : null}
          </li>
        ))}
      </ul>
    ) : null;
  return { menu, onKeyDown, onSelect };
}

function Chip(props: { item: ContextItem; onRemove?: () => void }): JSX.Element {
  const { item } = props;
  const title = item.state === 'error' ? `${item.label}: ${item.note}` : item.state === 'loading' ? `Fetching ${item.label}…` : `${item.label}${item.note ? ` (${item.note})` : ''}\n\n${item.text.slice(0, 600)}`;
  return (
    <span className="jp-ChatExt-chip" data-kind={item.kind} data-state={item.state} title={title}>
      {KIND_ICON[item.kind] ? React.createElement(KIND_ICON[item.kind].react, { tag: 'span', className: 'jp-ChatExt-chipIcon' }) : null}
      <span className="jp-ChatExt-chipLabel">{item.label}</span>
      {item.state === 'loading' ? <span className="jp-ChatExt-chipNote">…</span> : null}
      {item.state === 'error' ? <span className="jp-ChatExt-chipNote">{item.note}</span> : null}
      {props.onRemove ? (
        <button type="button" className="jp-ChatExt-chipRemove" aria-label={`Remove ${item.label}`} title="Remove" onClick={props.onRemove}>
          ×
        </button>
      ) : null}
    </span>
  );
}

/** The chips above the composer's text box. */
export function ComposerChips(props: { attachments: Attachments }): JSX.Element | null {
  const items = useSyncExternalStore(props.attachments.subscribe, props.attachments.getItems);
  if (!items.length) {
    return null;
  }
  return (
    <div className="jp-ChatExt-chips" aria-label="Attached context">
      {items.map(i => (
        <Chip key={i.id} item={i} onRemove={() => props.attachments.remove(i.id)} />
      ))}
    </div>
  );
}

/** The context a sent message carried: chips, folded; open to read what was sent. */
export function SentContext(props: { context: WireContext[] }): JSX.Element {
  return (
    <details className="jp-ChatExt-context jp-ChatExt-sentContext">
      <summary>
        {props.context.map((c, i) => (
          <Chip key={i} item={{ ...c, id: i, state: 'ready' }} />
        ))}
      </summary>
      {props.context.map((c, i) => (
        <div key={i} className="jp-ChatExt-sentContextItem">
          <div className="jp-ChatExt-sentContextLabel">{c.label}</div>
          <pre>{c.text}</pre>
        </div>
      ))}
    </details>
  );
}
