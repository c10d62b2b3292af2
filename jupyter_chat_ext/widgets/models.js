// ModelPanel front end: a table of models, Load/Unload buttons, a progress bar.

import { h, errorLine, humanCount, humanSize, progressRow, showError, subscribe } from "./dom.js";

function render({ model, el }) {
  const root = h("div", "jce-widget jce-models");
  const header = h("div", "jce-row");
  const refresh = h("button", "jce-button", "Refresh");
  header.append(h("span", "jce-title", "Models"), refresh);

  const table = h("table", "jce-table");
  const thead = h("thead");
  const headRow = h("tr");
  for (const col of ["Model", "Kind", "Source", "Size", "Params", "Context", "State", ""]) {
    headRow.appendChild(h("th", "", col));
  }
  thead.appendChild(headRow);
  const tbody = h("tbody");
  table.append(thead, tbody);

  const progress = progressRow();
  const pullRow = h("div", "jce-row");
  const pullInput = h("input", "jce-input");
  pullInput.placeholder = "owner/name:file.gguf or a catalog id";
  const pullButton = h("button", "jce-button", "Pull");
  pullRow.append(pullInput, pullButton);
  pullButton.addEventListener("click", () => {
    const target = pullInput.value.trim();
    if (target) model.send({ type: "pull", target });
  });

  const error = errorLine();
  root.append(header, table, pullRow, progress.row, error);
  el.appendChild(root);

  function renderTable() {
    const busy = model.get("busy");
    tbody.replaceChildren();
    for (const m of model.get("models") || []) {
      const row = h("tr");
      row.dataset.model = m.id;
      row.append(
        h("td", "jce-mono", m.id),
        h("td", "", m.kind),
        h("td", "", m.source),
        h("td", "", humanSize(m.size_bytes)),
        h("td", "", humanCount(m.parameters)),
        h("td", "", m.context_length || ""),
      );
      const state = h("td", `jce-state jce-state-${m.state}`, m.state);
      if (m.error) state.title = m.error;
      row.appendChild(state);
      const actions = h("td");
      if (m.kind !== "embedding" || m.state === "loaded") {
        const loaded = m.state === "loaded";
        const btn = h("button", "jce-button", loaded ? "Unload" : "Load");
        btn.disabled = busy || m.state === "loading";
        btn.addEventListener("click", () => model.send({ type: loaded ? "unload" : "load", id: m.id }));
        actions.appendChild(btn);
      }
      row.appendChild(actions);
      tbody.appendChild(row);
    }
  }

  function renderProgress() {
    const loading = model.get("loading");
    const label = model.get("progress_label") || (loading ? `Loading ${loading}` : "");
    progress.show(label, model.get("progress"));
    showError(error, model.get("error"));
    refresh.disabled = model.get("busy");
    pullButton.disabled = model.get("busy");
  }

  refresh.addEventListener("click", () => model.send({ type: "refresh" }));
  const onTable = () => renderTable();
  const onProgress = () => {
    renderProgress();
    renderTable();
  };
  renderTable();
  renderProgress();
  return subscribe(model, {
    "change:models": onTable,
    "change:busy": onProgress,
    "change:loading": onProgress,
    "change:progress": onProgress,
    "change:progress_label": onProgress,
    "change:error": onProgress,
  });
}

export default { render };
