/**
 * The actions on one chat, shared by the chat header and the History list: rename, export,
 * pin, delete. Each is one small button; the places that show them pick which and how.
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { deleteIcon, downloadIcon, editIcon } from '@jupyterlab/ui-components';
import React from 'react';

import { sessionTitle } from '../format';
import { pinIcon } from '../icons';
import { ChatStore } from '../store';
import { Session } from '../types';

export type Download = (text: string, filename: string, mime: string) => void;

export function RenameButton(props: { session: Session; store: ChatStore; label: string }): JSX.Element {
  const { session, store } = props;
  return (
    <button
      type="button"
      className="jp-ChatExt-iconButton"
      title="Rename"
      aria-label={props.label}
      onClick={async () => {
        const r = await InputDialog.getText({ title: 'Rename chat', text: session.title ?? '', okLabel: 'Rename' });
        if (r.button.accept && r.value !== null && r.value.trim()) {
          void store.sessions.rename(session.id, r.value.trim());
        }
      }}
    >
      <editIcon.react tag="span" className="jp-ChatExt-icon" />
    </button>
  );
}

const EXPORTS = {
  markdown: { title: 'Export as Markdown', label: 'Export as Markdown', text: 'MD', mime: 'text/markdown' },
  json: { title: 'Export as JSON (re-importable)', label: 'Export as JSON', text: 'JSON', mime: 'application/json' }
};

/** Export as a download; `icon`: the download icon (header) instead of the format's name. */
export function ExportButton(props: { session: Session; store: ChatStore; download: Download; format: 'markdown' | 'json'; icon?: boolean }): JSX.Element {
  const e = EXPORTS[props.format];
  const run = async () => {
    try {
      const { text, filename } = await props.store.sessions.exportSession(props.session.id, props.format);
      props.download(text, filename, e.mime);
    } catch (err) {
      props.store.setNotice({ kind: 'error', text: `Export failed: ${(err as Error).message ?? err}` });
    }
  };
  return (
    <button
      type="button"
      className={`jp-ChatExt-iconButton${props.icon ? '' : ' jp-ChatExt-textButton'}`}
      title={e.title}
      aria-label={e.label}
      onClick={() => void run()}
    >
      {props.icon ? <downloadIcon.react tag="span" className="jp-ChatExt-icon" /> : e.text}
    </button>
  );
}

export function PinButton(props: { session: Session; store: ChatStore }): JSX.Element {
  const s = props.session;
  return (
    <button
      type="button"
      className={`jp-ChatExt-iconButton${s.pinned ? ' jp-mod-active' : ''}`}
      title={s.pinned ? 'Unpin' : 'Pin'}
      aria-label={s.pinned ? 'Unpin' : 'Pin'}
      onClick={() => void props.store.sessions.togglePin(s)}
    >
      <pinIcon.react tag="span" className="jp-ChatExt-icon" />
    </button>
  );
}

export function DeleteSessionButton(props: { session: Session; store: ChatStore }): JSX.Element {
  const s = props.session;
  return (
    <button
      type="button"
      className="jp-ChatExt-iconButton"
      title="Delete"
      aria-label="Delete chat"
      onClick={async () => {
        const r = await showDialog({
          title: 'Delete chat',
          body: `Delete “${sessionTitle(s)}” and its ${s.message_count} messages? This cannot be undone.`,
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
        });
        if (r.button.accept) {
          void props.store.sessions.remove(s.id);
        }
      }}
    >
      <deleteIcon.react tag="span" className="jp-ChatExt-icon" />
    </button>
  );
}
