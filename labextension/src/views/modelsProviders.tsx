/**
 * Providers: OpenAI-compatible endpoints added at run time (Ollama, LM Studio, llama-server, vLLM,
 * OpenAI...). A form with presets, a Test (list models + a short streamed answer, time to first
 * token) before or after saving, edit and remove. Keys go to the server's OS keyring, or are
 * named as an environment variable; the server never sends one back, so the key field is always
 * empty (blank on edit = keep the saved key).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { deleteIcon, editIcon } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { applyPreset, emptyForm, formProblem, ProviderForm, testSummary } from '../models/providerForm';
import { ModelsState } from '../models/state';
import { ModelsStore } from '../models/store';
import { Provider, ProviderTest } from '../models/types';
import { PartError } from './modelsCommon';

function keyLabel(p: Provider): string {
  switch (p.key) {
    case 'keyring':
      return p.key_set ? 'key in the keyring' : 'key missing from the keyring';
    case 'env':
      return `key from $${p.api_key_env}${p.key_set ? '' : ' (not set)'}`;
    case 'config':
      return 'key in the server config';
    default:
      return 'no key';
  }
}

function TestResult(props: { test: ProviderTest }): JSX.Element {
  const t = props.test;
  return (
    <div className={`jp-ChatExt-providerTest${t.ok ? ' jp-mod-ok' : ' jp-mod-failed'}`} role="status" aria-label="Test result" data-ok={t.ok}>
      <strong>{t.ok ? 'It works' : 'Test failed'}</strong>: {testSummary(t)}
      {t.models.length ? <div className="jp-ChatExt-sessionMeta">Models: {t.models.slice(0, 12).join(', ')}</div> : null}
      {t.answer ? <div className="jp-ChatExt-providerAnswer">“{t.answer}”</div> : null}
    </div>
  );
}

function formFrom(p: Provider): ProviderForm {
  return {
    ...emptyForm(),
    editing: p.name,
    preset: p.preset ?? '',
    name: p.name,
    base_url: p.base_url,
    api_key_env: p.key === 'env' ? p.api_key_env ?? '' : '',
    models: p.models.join(', ')
  };
}

function Form(props: { state: ModelsState; store: ModelsStore; form: ProviderForm; setForm: (f: ProviderForm | null) => void }): JSX.Element {
  const { state, store, form, setForm } = props;
  const list = state.providers;
  const keyring = list?.keyring.available ?? false;
  const problem = formProblem(form, keyring);
  const field = (key: keyof ProviderForm, value: string) => setForm({ ...form, [key]: value });
  return (
    <form
      className="jp-ChatExt-providerForm"
      aria-label={form.editing ? `Edit provider ${form.editing}` : 'Add provider'}
      onSubmit={async e => {
        e.preventDefault();
        if (!problem && (await store.saveProvider(form))) {
          setForm(null);
        }
      }}
    >
      <label className="jp-ChatExt-field">
        Preset
        <select
          className="jp-ChatExt-select"
          aria-label="Preset"
          value={form.preset}
          onChange={e => setForm(applyPreset(form, list?.presets.find(p => p.id === e.target.value)))}
        >
          <option value="">Custom</option>
          {(list?.presets ?? []).map(p => (
            <option key={p.id} value={p.id}>
              {p.label}
            </option>
          ))}
        </select>
      </label>
      <label className="jp-ChatExt-field">
        Name (models show as name/model)
        <input className="jp-ChatExt-inputField" aria-label="Provider name" value={form.name} disabled={!!form.editing} onChange={e => field('name', e.target.value)} />
      </label>
      <label className="jp-ChatExt-field">
        Base URL
        <input className="jp-ChatExt-inputField" aria-label="Base URL" placeholder="http://localhost:11434/v1" value={form.base_url} onChange={e => field('base_url', e.target.value)} />
      </label>
      <label className="jp-ChatExt-field">
        API key {keyring ? '(kept in the OS keyring)' : '(no OS keyring here: use an environment variable)'}
        <input
          className="jp-ChatExt-inputField"
          type="password"
          autoComplete="off"
          aria-label="API key"
          placeholder={form.editing ? 'leave empty to keep the saved key' : ''}
          disabled={!keyring}
          value={form.api_key}
          onChange={e => field('api_key', e.target.value)}
        />
      </label>
      <label className="jp-ChatExt-field">
        …or the name of an environment variable of the server holding it
        <input className="jp-ChatExt-inputField" aria-label="Key environment variable" placeholder="OPENAI_API_KEY" value={form.api_key_env} onChange={e => field('api_key_env', e.target.value)} />
      </label>
      <label className="jp-ChatExt-field">
        Models (optional, comma-separated: for servers that cannot list theirs)
        <input className="jp-ChatExt-inputField" aria-label="Models" value={form.models} onChange={e => field('models', e.target.value)} />
      </label>
      {list?.keyring.available && list.keyring.note ? <p className="jp-ChatExt-hint">{list.keyring.note}</p> : null}
      {problem && (form.name || form.base_url) ? <div className="jp-ChatExt-fieldError">{problem}</div> : null}
      <div className="jp-ChatExt-editButtons">
        <button type="button" className="jp-ChatExt-button jp-mod-styled" disabled={!!problem || state.testing} onClick={() => void store.testProvider(form)}>
          {state.testing ? 'Testing…' : 'Test'}
        </button>
        <button type="button" className="jp-ChatExt-button jp-mod-styled jp-mod-reject" onClick={() => setForm(null)}>
          Cancel
        </button>
        <button type="submit" className="jp-ChatExt-button jp-mod-styled jp-mod-accept" disabled={!!problem}>
          Save
        </button>
      </div>
    </form>
  );
}

export function ProvidersSection(props: { state: ModelsState; store: ModelsStore }): JSX.Element {
  const { state, store } = props;
  const [form, setForm] = useState<ProviderForm | null>(null);
  const list = state.providers;
  return (
    <section aria-label="Providers">
      <p className="jp-ChatExt-hint">
        Connect a server that speaks the OpenAI API (Ollama, LM Studio, llama.cpp server, vLLM, OpenAI…). Its models join the model picker at once.
        {list?.file ? ` Saved in ${list.file} (keys are never written there).` : ''}
      </p>
      <PartError text={state.errors.providers} />
      {(list?.problems ?? []).map(p => (
        <div key={p} className="jp-ChatExt-fieldError">
          {p}
        </div>
      ))}
      <ul className="jp-ChatExt-sessions jp-ChatExt-modelList" aria-label="Provider list">
        {list && list.providers.length === 0 ? <li className="jp-ChatExt-hint">No providers yet.</li> : null}
        {(list?.providers ?? []).map(p => (
          <li key={p.name} className="jp-ChatExt-session jp-ChatExt-providerRow" data-provider={p.name}>
            <div className="jp-ChatExt-modelInfo">
              <span className="jp-ChatExt-sessionTitle">{p.name}</span>
              <span className="jp-ChatExt-sessionMeta">
                {p.base_url} · {keyLabel(p)}
                {p.source === 'config' ? ' · from jupyter_server_config' : ''}
              </span>
            </div>
            <div className="jp-ChatExt-modelActions">
              <button type="button" className="jp-ChatExt-button jp-mod-styled" aria-label={`Test provider ${p.name}`} disabled={state.testing} onClick={() => void store.testProvider(p.name)}>
                Test
              </button>
              {p.editable ? (
                <>
                  <button type="button" className="jp-ChatExt-iconButton" title="Edit" aria-label={`Edit provider ${p.name}`} onClick={() => setForm(formFrom(p))}>
                    <editIcon.react tag="span" className="jp-ChatExt-icon" />
                  </button>
                  <button
                    type="button"
                    className="jp-ChatExt-iconButton"
                    title="Remove"
                    aria-label={`Remove provider ${p.name}`}
                    onClick={async () => {
                      const r = await showDialog({
                        title: 'Remove provider',
                        body: `Remove ${p.name}${p.key === 'keyring' ? ' and its key from the keyring' : ''}? Chats that used its models keep their history.`,
                        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
                      });
                      if (r.button.accept) {
                        void store.removeProvider(p.name);
                      }
                    }}
                  >
                    <deleteIcon.react tag="span" className="jp-ChatExt-icon" />
                  </button>
                </>
              ) : null}
            </div>
          </li>
        ))}
      </ul>
      {state.test ? <TestResult test={state.test} /> : null}
      {form ? (
        <Form state={state} store={store} form={form} setForm={setForm} />
      ) : (
        <button type="button" className="jp-ChatExt-button jp-mod-styled jp-mod-accept" onClick={() => setForm(emptyForm())}>
          Add provider
        </button>
      )}
    </section>
  );
}
