// RagPanel front end: collections, ingest with a progress bar, search results with sources.

import { h, errorLine, progressRow, showError, subscribe } from "./dom.js";

function render({ model, el }) {
  const root = h("div", "jce-widget jce-rag");

  const header = h("div", "jce-row");
  const picker = h("select", "jce-select");
  picker.title = "Collection";
  const refresh = h("button", "jce-button", "Refresh");
  header.append(h("span", "jce-title", "Collection"), picker, refresh);
  const summary = h("div", "jce-info");

  const ingestRow = h("div", "jce-row");
  const nameInput = h("input", "jce-text");
  nameInput.placeholder = "collection name";
  const pathsInput = h("input", "jce-text jce-grow");
  pathsInput.placeholder = "files or folders, separated by ;";
  const ingestBtn = h("button", "jce-button", "Ingest");
  ingestRow.append(nameInput, pathsInput, ingestBtn);

  const job = progressRow();

  const searchRow = h("div", "jce-row");
  const queryInput = h("input", "jce-text jce-grow");
  queryInput.placeholder = "search query";
  const searchBtn = h("button", "jce-button jce-primary", "Search");
  searchRow.append(queryInput, searchBtn);

  const results = h("ol", "jce-results");
  const error = errorLine();
  root.append(header, summary, ingestRow, job.row, searchRow, results, error);
  el.appendChild(root);

  function renderCollections() {
    const current = model.get("collection");
    const list = model.get("collections") || [];
    picker.replaceChildren();
    for (const c of list) {
      const opt = h("option", "", c.name);
      opt.value = c.name;
      picker.appendChild(opt);
    }
    picker.value = current || "";
    const chosen = list.find((c) => c.name === current);
    summary.textContent = chosen ? `${chosen.documents ?? 0} documents, ${chosen.chunks ?? 0} chunks` : "no collection yet: ingest some files";
    if (!nameInput.value && current) nameInput.value = current;
  }

  function renderJob() {
    const state = model.get("job") || {};
    if (!state.state) {
      job.show("", 0);
      return;
    }
    const files = state.files_total ? `${state.files_done || 0}/${state.files_total} files` : "";
    job.show(`${state.state} ${files} ${state.chunks ? `· ${state.chunks} chunks` : ""}`.trim(), state.fraction);
  }

  function renderResults() {
    results.replaceChildren();
    for (const hit of model.get("results") || []) {
      const item = h("li", "jce-hit");
      const meta = h("div", "jce-hit-meta");
      meta.append(h("span", "jce-mono", hit.source), h("span", "jce-label", hit.location), h("span", "jce-score", Number(hit.score).toFixed(3)));
      item.append(meta, h("div", "jce-content", hit.text));
      results.appendChild(item);
    }
  }

  function renderState() {
    const busy = model.get("busy");
    ingestBtn.disabled = busy;
    showError(error, model.get("error"));
  }

  function search() {
    const q = queryInput.value.trim();
    if (q) model.send({ type: "search", query: q, collection: picker.value });
  }

  picker.addEventListener("change", () => {
    model.set("collection", picker.value);
    model.save_changes();
  });
  refresh.addEventListener("click", () => model.send({ type: "refresh" }));
  ingestBtn.addEventListener("click", () => {
    const paths = pathsInput.value.split(";").map((p) => p.trim()).filter(Boolean);
    model.send({ type: "ingest", collection: nameInput.value.trim(), paths });
  });
  searchBtn.addEventListener("click", search);
  queryInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") search();
  });

  const handlers = {
    "change:collections": renderCollections,
    "change:collection": renderCollections,
    "change:job": renderJob,
    "change:results": renderResults,
    "change:busy": renderState,
    "change:error": renderState,
  };
  renderCollections();
  renderJob();
  renderResults();
  renderState();
  return subscribe(model, handlers);
}

export default { render };
