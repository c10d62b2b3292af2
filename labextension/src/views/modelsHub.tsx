/** The catalog (recommended models by role) and the Hugging Face Hub search with its files. */
import { downloadIcon, searchIcon } from '@jupyterlab/ui-components';
import React from 'react';

import { formatBytes, formatParameters } from '../format';
import { Badge, fitsBadge, groupCatalog, isActive, jobFor, ModelsState, ROLE_LABELS } from '../models/state';
import { ModelsStore } from '../models/store';
import { CatalogEntry, HubFile, Role } from '../models/types';
import { PartError } from './modelsCommon';

export function FitsBadge(props: { badge: Badge | null }): JSX.Element | null {
  const b = props.badge;
  return b ? (
    <span className={`jp-ChatExt-fits jp-ChatExt-fits-${b.kind}`} title={b.title} data-fits={b.kind}>
      {b.text}
    </span>
  ) : null;
}

function PullButton(props: { state: ModelsState; store: ModelsStore; repo: string; file: string | null; installed: boolean; label: string }): JSX.Element {
  const { state, store, repo, file } = props;
  const job = jobFor(state.jobs, repo, file);
  if (props.installed) {
    return <span className="jp-ChatExt-installed">installed</span>;
  }
  const running = !!job && isActive(job);
  return (
    <button
      type="button"
      className="jp-ChatExt-button jp-mod-styled"
      disabled={running}
      aria-label={`Pull ${props.label}`}
      title={running ? 'Downloading…' : `Download ${file ?? repo}`}
      onClick={() => void store.pull(repo, file)}
    >
      <downloadIcon.react tag="span" className="jp-ChatExt-icon" /> {running ? 'Pulling…' : 'Pull'}
    </button>
  );
}

function CatalogRow(props: { entry: CatalogEntry; suggested: boolean; state: ModelsState; store: ModelsStore }): JSX.Element {
  const e = props.entry;
  return (
    <li className={`jp-ChatExt-session jp-ChatExt-catalogRow${props.suggested ? ' jp-mod-suggested' : ''}`} data-entry={e.id} data-installed={e.installed}>
      <div className="jp-ChatExt-modelInfo">
        <span className="jp-ChatExt-sessionTitle" title={`${e.repo}${e.file ? ` · ${e.file}` : ''}`}>
          {e.name}
          {props.suggested ? <span className="jp-ChatExt-suggested"> suggested</span> : null}
        </span>
        <span className="jp-ChatExt-sessionMeta">
          {[formatParameters(e.parameters), e.quant, formatBytes(e.size_bytes), e.context_length ? `${Math.round(e.context_length / 1024)}k context` : '', e.licence, e.fim ? 'FIM' : '', e.tools ? 'tools' : '']
            .filter(Boolean)
            .join(' · ')}
        </span>
        {e.notes ? <span className="jp-ChatExt-hint">{e.notes}</span> : null}
      </div>
      <div className="jp-ChatExt-modelActions">
        <FitsBadge badge={fitsBadge(e.fits)} />
        <PullButton state={props.state} store={props.store} repo={e.repo} file={e.file} installed={e.installed} label={e.name} />
      </div>
    </li>
  );
}

export function CatalogSection(props: { state: ModelsState; store: ModelsStore }): JSX.Element {
  const { state, store } = props;
  const groups = groupCatalog(state.catalog);
  return (
    <section aria-label="Catalog">
      <p className="jp-ChatExt-hint">Recommended models by role; the highlighted one is the pick for this machine. Search the Hub for anything else.</p>
      <PartError text={state.errors.catalog} />
      {groups.map(g => (
        <div key={g.role} className="jp-ChatExt-catalogGroup" data-role={g.role}>
          <h3 className="jp-ChatExt-groupTitle">{g.label}</h3>
          <ul className="jp-ChatExt-sessions jp-ChatExt-modelList">
            {g.entries.map(e => (
              <CatalogRow key={e.id} entry={e} suggested={e.id === g.suggested} state={state} store={store} />
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}

function FileRow(props: { repo: string; file: HubFile; state: ModelsState; store: ModelsStore }): JSX.Element {
  const f = props.file;
  const label = f.file ?? `${props.repo} (safetensors folder)`;
  return (
    <li className="jp-ChatExt-session jp-ChatExt-fileRow" data-file={f.file ?? ''}>
      <div className="jp-ChatExt-modelInfo">
        <span className="jp-ChatExt-sessionTitle" title={label}>
          {f.quant ?? f.format}
        </span>
        <span className="jp-ChatExt-sessionMeta">
          {formatBytes(f.size_bytes)} · {label}
        </span>
      </div>
      <div className="jp-ChatExt-modelActions">
        <FitsBadge badge={fitsBadge(f.fits)} />
        <PullButton state={props.state} store={props.store} repo={props.repo} file={f.file} installed={f.installed} label={label} />
      </div>
    </li>
  );
}

const KINDS: (Role | '')[] = ['', 'chat', 'code', 'embedding', 'rerank'];

export function SearchSection(props: { state: ModelsState; store: ModelsStore }): JSX.Element {
  const { state, store } = props;
  return (
    <section aria-label="Search the Hugging Face Hub">
      <form
        className="jp-ChatExt-searchRow"
        onSubmit={e => {
          e.preventDefault();
          void store.search();
        }}
      >
        <input
          className="jp-ChatExt-inputField jp-ChatExt-search"
          aria-label="Search models"
          placeholder="Search the Hub (e.g. qwen gguf)"
          value={state.query}
          onChange={e => store.setQuery(e.target.value)}
        />
        <select className="jp-ChatExt-select" aria-label="Kind" value={state.kind} onChange={e => store.setQuery(state.query, e.target.value as Role | '')}>
          {KINDS.map(k => (
            <option key={k} value={k}>
              {k ? ROLE_LABELS[k].split(' ')[0] : 'Any kind'}
            </option>
          ))}
        </select>
        <button type="submit" className="jp-ChatExt-iconButton" title="Search" aria-label="Search" disabled={state.searching}>
          <searchIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
      </form>
      <PartError text={state.errors.search} />
      {state.searching ? <p className="jp-ChatExt-hint">Searching…</p> : null}
      {state.results && !state.results.length ? <p className="jp-ChatExt-hint">No models match.</p> : null}
      <ul className="jp-ChatExt-sessions jp-ChatExt-modelList" aria-label="Search results">
        {(state.results ?? []).map(m => (
          <li key={m.repo} className="jp-ChatExt-session jp-ChatExt-hubRow" data-repo={m.repo}>
            <button type="button" className="jp-ChatExt-sessionOpen" aria-expanded={state.files?.repo === m.repo} onClick={() => void store.showFiles(m.repo)}>
              <span className="jp-ChatExt-sessionTitle">
                {m.repo} {m.gguf ? <span className="jp-ChatExt-roleChip">GGUF</span> : null}
              </span>
              <span className="jp-ChatExt-sessionMeta">
                {[m.pipeline_tag, m.downloads !== null ? `${m.downloads} downloads` : '', m.likes !== null ? `${m.likes} likes` : '', m.updated ? `updated ${m.updated.slice(0, 10)}` : '']
                  .filter(Boolean)
                  .join(' · ')}
              </span>
            </button>
            {state.filesLoading === m.repo ? <p className="jp-ChatExt-hint">Reading the files…</p> : null}
            {state.files?.repo === m.repo ? (
              <ul className="jp-ChatExt-fileList" aria-label={`Files of ${m.repo}`}>
                {state.files.files.length === 0 ? <li className="jp-ChatExt-hint">No GGUF or safetensors files.</li> : null}
                {state.files.files.map(f => (
                  <FileRow key={f.file ?? '(folder)'} repo={m.repo} file={f} state={state} store={store} />
                ))}
              </ul>
            ) : null}
          </li>
        ))}
      </ul>
      <PartError text={state.errors.files} />
    </section>
  );
}
