/**
 * The Models tab: what this machine has (hardware line), installed models and their roles, pulls
 * with progress, and the catalog / Hub search / providers sections (modelsHub.tsx,
 * modelsProviders.tsx). State and server calls live in ../models (ModelsStore).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { deleteIcon, refreshIcon, runIcon, stopIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useSyncExternalStore } from 'react';

import { formatBytes, formatParameters } from '../format';
import { deletable, fraction, hardwareLine, isActive, jobTitle, ModelsState, pullLabel, rolesOf, Section, SLOT_LABELS, slotsFor, visibleJobs, whereItRuns } from '../models/state';
import { ModelsStore } from '../models/store';
import { InstalledModel, PullJob, RoleSlot } from '../models/types';
import { PartError } from './modelsCommon';
import { CatalogSection, SearchSection } from './modelsHub';
import { ProvidersSection } from './modelsProviders';

const SECTIONS: [Section, string][] = [
  ['installed', 'Installed'],
  ['catalog', 'Catalog'],
  ['search', 'Search Hub'],
  ['providers', 'Providers']
];

function JobRow(props: { job: PullJob; state: ModelsState; store: ModelsStore }): JSX.Element {
  const { job, store } = props;
  const f = fraction(job);
  const active = isActive(job);
  return (
    <li className="jp-ChatExt-job jp-ChatExt-pullJob" data-state={job.state} aria-label={`Pull ${jobTitle(job)}`}>
      <div className="jp-ChatExt-pullHead">
        <span className="jp-ChatExt-pullName" title={jobTitle(job)}>
          {jobTitle(job)}
        </span>
        <span className={`jp-ChatExt-pill jp-ChatExt-pill-${active ? 'loading' : job.state === 'done' ? 'loaded' : job.state === 'failed' ? 'error' : 'idle'}`}>
          {job.state}
        </span>
        {job.actions.includes('cancel') ? (
          <button type="button" className="jp-ChatExt-iconButton" title="Cancel the download" aria-label={`Cancel pull of ${jobTitle(job)}`} onClick={() => void store.cancel(job.id)}>
            <stopIcon.react tag="span" className="jp-ChatExt-icon" />
          </button>
        ) : null}
        {job.actions.includes('resume') ? (
          <button type="button" className="jp-ChatExt-button jp-mod-styled" aria-label={`Resume pull of ${jobTitle(job)}`} onClick={() => void store.resume(job.id)}>
            <runIcon.react tag="span" className="jp-ChatExt-icon" /> Resume
          </button>
        ) : null}
      </div>
      {active || job.state === 'interrupted' ? (
        <progress className="jp-ChatExt-progress" max={1} value={f ?? undefined} aria-label={`Progress of ${jobTitle(job)}`} />
      ) : null}
      <div className="jp-ChatExt-sessionMeta" data-role="pull-label">
        {pullLabel(job, props.state.samples[job.id])}
        {job.state === 'done' && job.model_id ? ` · installed as ${job.model_id}` : ''}
      </div>
      {job.error ? <div className="jp-ChatExt-error">{typeof job.error === 'string' ? job.error : job.error.message}</div> : null}
    </li>
  );
}

export function PullJobs(props: { state: ModelsState; store: ModelsStore }): JSX.Element | null {
  const jobs = visibleJobs(props.state.jobs, props.state.watched);
  if (!jobs.length) {
    return null;
  }
  return (
    <ul className="jp-ChatExt-jobs" aria-label="Pulls">
      {jobs.map(j => (
        <JobRow key={j.id} job={j} state={props.state} store={props.store} />
      ))}
    </ul>
  );
}

/** Give a model a role, or take a nullable one (inline, rerank) back from it. */
function RolePicker(props: { model: InstalledModel; store: ModelsStore; held: string[] }): JSX.Element {
  const slots = slotsFor(props.model).filter(s => !props.held.includes(s));
  const clearable = props.held.filter(r => r === 'inline' || r === 'rerank') as RoleSlot[];
  return (
    <select
      className="jp-ChatExt-select jp-ChatExt-roleSelect"
      aria-label={`Use ${props.model.id} as`}
      value=""
      disabled={!slots.length && !clearable.length}
      onChange={e => {
        const [action, slot] = e.target.value.split(':') as ['set' | 'clear', RoleSlot];
        if (slot) {
          void props.store.setRole(slot, action === 'set' ? props.model.id : null);
        }
      }}
    >
      <option value="">Use as…</option>
      {slots.map(s => (
        <option key={s} value={`set:${s}`}>
          {SLOT_LABELS[s]}
        </option>
      ))}
      {clearable.map(s => (
        <option key={`clear-${s}`} value={`clear:${s}`}>
          not for {SLOT_LABELS[s]}
        </option>
      ))}
    </select>
  );
}

function Installed(props: { state: ModelsState; store: ModelsStore }): JSX.Element {
  const { state, store } = props;
  return (
    <section aria-label="Installed models">
      <PartError text={state.errors.installed ?? state.errors.roles} />
      <ul className="jp-ChatExt-sessions jp-ChatExt-modelList">
        {state.installed.length === 0 && !state.errors.installed ? <li className="jp-ChatExt-hint">No models yet.</li> : null}
        {state.installed.map(m => {
          const held = rolesOf(m, state.roles);
          const where = whereItRuns(m);
          return (
            <li key={m.id} className="jp-ChatExt-session jp-ChatExt-modelRow" data-model={m.id} data-source={m.source}>
              <div className="jp-ChatExt-modelInfo">
                <span className="jp-ChatExt-sessionTitle" title={m.id}>
                  {m.id}
                </span>
                <span className="jp-ChatExt-sessionMeta">
                  {[m.kind, m.source, m.size_bytes ? formatBytes(m.size_bytes) : '', formatParameters(m.parameters), where, m.state]
                    .filter(Boolean)
                    .join(' · ')}
                </span>
                {held.length ? (
                  <span className="jp-ChatExt-roleChips">
                    {held.map(r => (
                      <span key={r} className="jp-ChatExt-roleChip" data-role={r}>
                        {SLOT_LABELS[r] ?? r}
                      </span>
                    ))}
                  </span>
                ) : null}
                {m.tools_hint && !m.tools_hint.likely ? <span className="jp-ChatExt-hint jp-ChatExt-toolsHint">{m.tools_hint.reason}</span> : null}
              </div>
              <div className="jp-ChatExt-modelActions">
                <RolePicker model={m} store={store} held={held} />
                {deletable(m) ? (
                  <button
                    type="button"
                    className="jp-ChatExt-iconButton"
                    title="Delete the downloaded files"
                    aria-label={`Delete model ${m.id}`}
                    onClick={async () => {
                      const r = await showDialog({
                        title: 'Delete model',
                        body: `Delete ${m.id} and its downloaded files${m.size_bytes ? ` (${formatBytes(m.size_bytes)})` : ''}? You can pull it again later.`,
                        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
                      });
                      if (r.button.accept) {
                        void store.deleteModel(m.id);
                      }
                    }}
                  >
                    <deleteIcon.react tag="span" className="jp-ChatExt-icon" />
                  </button>
                ) : null}
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

export function ModelsView(props: { store: ModelsStore }): JSX.Element {
  const store = props.store;
  const state = useSyncExternalStore(store.subscribe, store.getState);
  useEffect(() => {
    void store.refresh();
  }, [store]);
  return (
    <div className="jp-ChatExt-view jp-ChatExt-models" role="tabpanel" aria-labelledby="jp-ChatExt-tab-models">
      <div className="jp-ChatExt-hwLine" aria-label="Hardware">
        <span title={state.hardware?.cpu.model ?? ''}>{state.errors.hardware ? `Hardware unknown: ${state.errors.hardware}` : hardwareLine(state.hardware) || 'Reading the hardware…'}</span>
        <button type="button" className="jp-ChatExt-iconButton" title="Refresh" aria-label="Refresh models" disabled={state.loading} onClick={() => void store.refresh()}>
          <refreshIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
      </div>
      <div className="jp-ChatExt-segmented" role="group" aria-label="Model sections">
        {SECTIONS.map(([s, label]) => (
          <button
            key={s}
            type="button"
            aria-pressed={state.section === s}
            className={`jp-ChatExt-segment${state.section === s ? ' jp-mod-current' : ''}`}
            onClick={() => store.setSection(s)}
          >
            {label}
          </button>
        ))}
      </div>
      {state.notice ? (
        <div className="jp-ChatExt-notice jp-ChatExt-notice-info" role="status">
          <span>{state.notice}</span>
          <button type="button" className="jp-ChatExt-linkButton" onClick={() => store.clearNotice()}>
            OK
          </button>
        </div>
      ) : null}
      <PartError text={state.errors.pull} />
      <div className="jp-ChatExt-modelsBody">
        <PullJobs state={state} store={store} />
        {state.section === 'installed' ? <Installed state={state} store={store} /> : null}
        {state.section === 'catalog' ? <CatalogSection state={state} store={store} /> : null}
        {state.section === 'search' ? <SearchSection state={state} store={store} /> : null}
        {state.section === 'providers' ? <ProvidersSection state={state} store={store} /> : null}
      </div>
    </div>
  );
}
