/**
 * Markdown through JupyterLab's rendermime: sanitized (the model is untrusted), theme-aware,
 * math typeset, code highlighted. Code blocks get a small toolbar (copy / insert / replace).
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { addBelowIcon, checkIcon, copyIcon, LabIcon, redoIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import React, { useEffect, useRef } from 'react';

import { splitCiteMarkers } from '../format';

export interface CodeActions {
  copy(code: string): void;
  insert(code: string, language: string): void;
  replace(code: string, language: string): void;
  /** replace the cell a fix was asked for (else the active one) after a diff preview */
  apply?(code: string, language: string): void;
}

const MIME = 'text/markdown';
const STREAM_INTERVAL_MS = 60;

function languageOf(pre: HTMLElement): string {
  const code = pre.querySelector('code');
  for (const el of [code, pre]) {
    const m = el?.className.match(/(?:^|\s)(?:language|lang)-([\w+#.-]+)/);
    if (m) {
      return m[1];
    }
  }
  return pre.getAttribute('data-language') ?? '';
}

function button(icon: LabIcon, label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'jp-ChatExt-iconButton';
  b.title = label;
  b.setAttribute('aria-label', label);
  b.appendChild(icon.element({ tag: 'span', className: 'jp-ChatExt-icon' }));
  b.addEventListener('click', ev => {
    ev.preventDefault();
    ev.stopPropagation();
    onClick();
  });
  return b;
}

/** Wrap every <pre> of the rendered output with a toolbar (DOM APIs only, never innerHTML). */
function decorateCodeBlocks(root: HTMLElement, actions: CodeActions): void {
  root.querySelectorAll('pre').forEach(pre => {
    if (pre.parentElement?.classList.contains('jp-ChatExt-code')) {
      return;
    }
    const language = languageOf(pre);
    const code = () => (pre.querySelector('code') ?? pre).textContent ?? '';
    const wrap = document.createElement('div');
    wrap.className = 'jp-ChatExt-code';
    const bar = document.createElement('div');
    bar.className = 'jp-ChatExt-codeBar';
    const lang = document.createElement('span');
    lang.className = 'jp-ChatExt-codeLang';
    lang.textContent = language || 'code';
    bar.appendChild(lang);
    bar.appendChild(button(copyIcon, 'Copy code', () => actions.copy(code())));
    bar.appendChild(button(addBelowIcon, 'Insert as a new cell in the active notebook', () => actions.insert(code(), language)));
    bar.appendChild(button(redoIcon, 'Replace the active cell', () => actions.replace(code(), language)));
    if (actions.apply) {
      bar.appendChild(button(checkIcon, 'Apply to cell', () => actions.apply?.(code(), language)));
    }
    pre.parentElement?.insertBefore(wrap, pre);
    wrap.appendChild(bar);
    wrap.appendChild(pre);
  });
}

/**
 * The answer's inline [n] markers as buttons that open source n (text nodes only, outside code;
 * DOM APIs only, never innerHTML).
 */
function linkCitations(root: HTMLElement, count: number, open: (index: number) => void): void {
  if (count < 1) {
    return;
  }
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: n => (n.parentElement?.closest('pre, code, button, .jp-ChatExt-codeBar') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT)
  });
  const nodes: Text[] = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (/\[\d/.test(n.nodeValue ?? '')) {
      nodes.push(n as Text);
    }
  }
  for (const node of nodes) {
    const parts = splitCiteMarkers(node.nodeValue ?? '', count);
    if (!parts.some(p => typeof p === 'number')) {
      continue;
    }
    const frag = document.createDocumentFragment();
    for (const p of parts) {
      if (typeof p === 'string') {
        frag.appendChild(document.createTextNode(p));
        continue;
      }
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'jp-ChatExt-citeRef';
      b.textContent = String(p);
      b.title = `Open source ${p}`;
      b.setAttribute('aria-label', `Source ${p}`);
      b.addEventListener('click', ev => {
        ev.preventDefault();
        open(p - 1);
      });
      frag.appendChild(b);
    }
    node.parentNode?.replaceChild(frag, node);
  }
}

export function Markdown(props: {
  text: string;
  rendermime: IRenderMimeRegistry;
  streaming: boolean;
  actions: CodeActions;
  /** how many sources the answer has: its [n] markers open them (onCite(index)) */
  citations?: number;
  onCite?: (index: number) => void;
}): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  const renderer = useRef<IRenderMime.IRenderer | null>(null);
  const job = useRef({ busy: false, pending: null as string | null, last: 0 });
  const actions = useRef(props.actions);
  actions.current = props.actions;
  const cite = useRef({ count: props.citations ?? 0, onCite: props.onCite });
  cite.current = { count: props.citations ?? 0, onCite: props.onCite };

  useEffect(() => {
    const r = props.rendermime.createRenderer(MIME);
    r.addClass('jp-ChatExt-markdown');
    renderer.current = r;
    const el = host.current;
    if (el && el.isConnected) {
      // attached as a Lumino widget: the renderer then typesets math (it checks isAttached)
      Widget.attach(r, el);
    } else {
      el?.appendChild(r.node);
    }
    return () => {
      renderer.current = null;
      if (r.isAttached) {
        if (r.node.isConnected) {
          Widget.detach(r);
        } else {
          // React already removed the host from the page: only the flag is left to clear
          r.clearFlag(Widget.Flag.IsAttached);
        }
      }
      r.dispose();
    };
  }, [props.rendermime]);

  useEffect(() => {
    const state = job.current;
    const render = async (text: string): Promise<void> => {
      state.busy = true;
      try {
        const wait = STREAM_INTERVAL_MS - (Date.now() - state.last);
        if (props.streaming && wait > 0) {
          await new Promise(r => setTimeout(r, wait));
          text = state.pending ?? text;
          state.pending = null;
        }
        const r = renderer.current;
        if (!r) {
          return;
        }
        // trusted: false -> the sanitizer strips scripts, event handlers and unsafe URLs.
        await r.renderModel(new MimeModel({ data: { [MIME]: text }, trusted: false }));
        decorateCodeBlocks(r.node, {
          copy: c => actions.current.copy(c),
          insert: (c, l) => actions.current.insert(c, l),
          replace: (c, l) => actions.current.replace(c, l),
          apply: actions.current.apply ? (c, l) => actions.current.apply?.(c, l) : undefined
        });
        if (cite.current.onCite) {
          linkCitations(r.node, cite.current.count, i => cite.current.onCite?.(i));
        }
        state.last = Date.now();
      } finally {
        state.busy = false;
      }
      if (state.pending !== null) {
        const next = state.pending;
        state.pending = null;
        void render(next);
      }
    };
    if (state.busy) {
      state.pending = props.text;
    } else {
      void render(props.text);
    }
  }, [props.text, props.streaming, props.citations]);

  return <div ref={host} className="jp-ChatExt-markdownHost" />;
}
