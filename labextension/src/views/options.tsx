import React, { useState } from 'react';

import { ChatDefaults, paramFormFrom, parseParamForm, ParamErrors } from '../params';
import { GenerationParams } from '../types';

/** The per-chat system prompt and generation options (empty field = the default from settings). */
export function OptionsPanel(props: {
  systemPrompt: string | null;
  params: GenerationParams;
  defaults: ChatDefaults;
  onSave: (systemPrompt: string | null, params: GenerationParams) => void;
  onClose: () => void;
}): JSX.Element {
  const [prompt, setPrompt] = useState(props.systemPrompt ?? '');
  const [form, setForm] = useState(paramFormFrom(props.params));
  const [errors, setErrors] = useState<ParamErrors>({});
  const d = props.defaults;
  const field = (key: keyof typeof form, label: string, placeholder: string, step: string) => (
    <label className="jp-ChatExt-field">
      <span>{label}</span>
      <input
        className="jp-ChatExt-inputField"
        type="number"
        step={step}
        value={form[key]}
        placeholder={placeholder}
        aria-invalid={!!errors[key]}
        onChange={e => setForm({ ...form, [key]: e.target.value })}
      />
      {errors[key] ? <span className="jp-ChatExt-fieldError">{errors[key]}</span> : null}
    </label>
  );
  const save = () => {
    const { params, errors } = parseParamForm(form);
    setErrors(errors);
    if (Object.keys(errors).length === 0) {
      props.onSave(prompt.trim() ? prompt : null, params);
      props.onClose();
    }
  };
  return (
    <div className="jp-ChatExt-options" role="group" aria-label="Chat options">
      <label className="jp-ChatExt-field jp-ChatExt-fieldWide">
        <span>System prompt</span>
        <textarea
          className="jp-ChatExt-textarea"
          rows={3}
          value={prompt}
          placeholder={d.systemPrompt || 'You are a helpful assistant.'}
          onChange={e => setPrompt(e.target.value)}
        />
      </label>
      <div className="jp-ChatExt-fieldRow">
        {field('temperature', 'Temperature', String(d.temperature), '0.05')}
        {field('top_p', 'Top p', String(d.topP), '0.05')}
        {field('max_tokens', 'Max tokens', String(d.maxTokens), '1')}
        {field('seed', 'Seed', d.seed === null ? 'random' : String(d.seed), '1')}
      </div>
      <div className="jp-ChatExt-editButtons">
        <button
          type="button"
          className="jp-ChatExt-button jp-mod-styled"
          onClick={() => {
            setPrompt('');
            setForm(paramFormFrom({}));
            setErrors({});
          }}
        >
          Use defaults
        </button>
        <button type="button" className="jp-ChatExt-button jp-mod-styled" onClick={props.onClose}>
          Cancel
        </button>
        <button type="button" className="jp-ChatExt-button jp-mod-styled jp-mod-accept" onClick={save}>
          Save
        </button>
      </div>
    </div>
  );
}
