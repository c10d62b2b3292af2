// ModelPanel front end: a table of models, Load/Unload buttons, a progress bar.

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function humanSize(n) {
  if (!n) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let size = Number(n);
  let i = 0;
  while (size >= 1024 && i < units.length - 1) {
    size /= 1024;
    i += 1;
  }
  return i === 0 ? `${size} B` : `${size.toFixed(1)} ${units[i]}`;
}

function humanCount(n) {
  if (!n) return "";
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)} M`;
  return String(n);
}

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

  const progressRow = h("div", "jce-row jce-progress-row");
  const progressLabel = h("span", "jce-label");
  const bar = h("progress", "jce-progress");
  bar.max = 1;
  progressRow.append(progressLabel, bar);

  const error = h("div", "jce-error");
  error.setAttribute("role", "alert");
  root.append(header, table, progressRow, error);
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
    progressRow.style.display = loading ? "" : "none";
    progressLabel.textContent = loading ? `Loading ${loading}` : "";
    bar.value = model.get("progress") || 0;
    error.textContent = model.get("error") || "";
    error.style.display = model.get("error") ? "" : "none";
    refresh.disabled = model.get("busy");
  }

  refresh.addEventListener("click", () => model.send({ type: "refresh" }));
  const onTable = () => renderTable();
  const onProgress = () => {
    renderProgress();
    renderTable();
  };
  model.on("change:models", onTable);
  model.on("change:busy", onProgress);
  model.on("change:loading", onProgress);
  model.on("change:progress", onProgress);
  model.on("change:error", onProgress);
  renderTable();
  renderProgress();
  return () => {
    model.off("change:models", onTable);
    model.off("change:busy", onProgress);
    model.off("change:loading", onProgress);
    model.off("change:progress", onProgress);
    model.off("change:error", onProgress);
  };
}

export default { render };
