// RagPanel front end: collections, ingest with a progress bar, search results with sources.

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

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

  const jobRow = h("div", "jce-row jce-progress-row");
  const jobLabel = h("span", "jce-label");
  const bar = h("progress", "jce-progress");
  bar.max = 1;
  jobRow.append(jobLabel, bar);

  const searchRow = h("div", "jce-row");
  const queryInput = h("input", "jce-text jce-grow");
  queryInput.placeholder = "search query";
  const searchBtn = h("button", "jce-button jce-primary", "Search");
  searchRow.append(queryInput, searchBtn);

  const results = h("ol", "jce-results");
  const error = h("div", "jce-error");
  error.setAttribute("role", "alert");
  root.append(header, summary, ingestRow, jobRow, searchRow, results, error);
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
    const job = model.get("job") || {};
    const active = job && job.state;
    jobRow.style.display = active ? "" : "none";
    if (active) {
      const files = job.files_total ? `${job.files_done || 0}/${job.files_total} files` : "";
      jobLabel.textContent = `${job.state} ${files} ${job.chunks ? `· ${job.chunks} chunks` : ""}`.trim();
      bar.value = job.fraction || 0;
    }
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
    error.textContent = model.get("error") || "";
    error.style.display = model.get("error") ? "" : "none";
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
  for (const [name, fn] of Object.entries(handlers)) model.on(name, fn);
  renderCollections();
  renderJob();
  renderResults();
  renderState();
  return () => {
    for (const [name, fn] of Object.entries(handlers)) model.off(name, fn);
  };
}

export default { render };
