/** The Documents tab: RAG collections, their ingest jobs, and which one the chat retrieves from. */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { deleteIcon, folderIcon } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { formatBytes } from '../format';
import { ChatState } from '../store';
import { IngestJob } from '../types';
import { NoticeBar } from './notice';
import type { PanelServices } from './panel';

function Job(props: { job: IngestJob }): JSX.Element {
  const j = props.job;
  return (
    <li className="jp-ChatExt-job" data-state={j.state}>
      <div>
        <strong>{j.collection}</strong> · {j.state} · {j.files_done}/{j.files_total} files · {j.chunks} chunks
        {j.skipped?.length ? ` · ${j.skipped.length} skipped` : ''}
      </div>
      {j.state === 'running' || j.state === 'queued' ? (
        <progress className="jp-ChatExt-progress" max={Math.max(1, j.files_total)} value={j.files_done} aria-label={`Ingesting into ${j.collection}`} />
      ) : null}
      {j.error ? <div className="jp-ChatExt-error">{typeof j.error === 'string' ? j.error : j.error.message}</div> : null}
      {j.skipped?.length ? (
        <details>
          <summary>Skipped files</summary>
          <ul>
            {j.skipped.map((s, i) => (
              <li key={i}>
                {s.path}: {s.reason}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </li>
  );
}

export function CollectionsView(props: { state: ChatState; services: PanelServices }): JSX.Element {
  const { state, services } = props;
  const store = services.store;
  const [name, setName] = useState('');
  return (
    <div className="jp-ChatExt-view" role="tabpanel" aria-labelledby="jp-ChatExt-tab-collections">
      <form
        className="jp-ChatExt-searchRow"
        onSubmit={async e => {
          e.preventDefault();
          if (name.trim() && (await store.catalog.createCollection(name))) {
            setName('');
          }
        }}
      >
        <input
          className="jp-ChatExt-inputField jp-ChatExt-search"
          aria-label="New collection name"
          placeholder="New collection name"
          value={name}
          onChange={e => setName(e.target.value)}
        />
        <button type="submit" className="jp-ChatExt-button jp-mod-styled jp-mod-accept" disabled={!name.trim()}>
          Create
        </button>
      </form>
      <p className="jp-ChatExt-hint">
        Add files or folders: right-click them in the file browser → <em>Add to chat collection</em>. Then pick the collection under the message box.
      </p>
      <NoticeBar notice={state.notice} role="alert" />
      {state.jobs.length ? (
        <ul className="jp-ChatExt-jobs" aria-label="Ingest jobs">
          {state.jobs.map(j => (
            <Job key={j.id} job={j} />
          ))}
        </ul>
      ) : null}
      <ul className="jp-ChatExt-sessions" aria-label="Collections">
        {state.collections.length === 0 ? <li className="jp-ChatExt-hint">No collections yet.</li> : null}
        {state.collections.map(c => (
          <li key={c.name} className={`jp-ChatExt-session${state.collection === c.name ? ' jp-mod-current' : ''}`}>
            <button
              type="button"
              className="jp-ChatExt-sessionOpen"
              title="Use this collection in the chat"
              onClick={() => {
                store.catalog.setCollection(c.name);
                store.setView('chat');
              }}
            >
              <span className="jp-ChatExt-sessionTitle">
                {/* a JupyterLab icon: an emoji has no glyph where no emoji font is installed */}
                <folderIcon.react tag="span" className="jp-ChatExt-icon jp-ChatExt-inlineIcon" />
                {c.name}
              </span>
              <span className="jp-ChatExt-sessionMeta">
                {c.documents} documents · {c.chunks} chunks · {formatBytes(c.size_bytes)}
                {c.embedding_model ? ` · ${c.embedding_model}` : ''}
              </span>
            </button>
            <div className="jp-ChatExt-sessionActions">
              <button
                type="button"
                className="jp-ChatExt-iconButton"
                title="Delete collection"
                aria-label={`Delete collection ${c.name}`}
                onClick={async () => {
                  const r = await showDialog({
                    title: 'Delete collection',
                    body: `Delete the collection “${c.name}” and its index? The files themselves stay.`,
                    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
                  });
                  if (r.button.accept) {
                    void store.catalog.deleteCollection(c.name);
                  }
                }}
              >
                <deleteIcon.react tag="span" className="jp-ChatExt-icon" />
              </button>
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
