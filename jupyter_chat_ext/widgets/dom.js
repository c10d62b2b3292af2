// DOM helpers shared by the three widget front ends (chat.js, models.js, rag.js).
//
// anywidget loads each `_esm` as one module from a string, so a relative `import` cannot be
// resolved in the browser. The widgets import from "./dom.js" like any ES module, and
// widgets/esm.py inlines this file in place of that import when the class is defined: one source,
// no copies. Keep it free of imports and top-level side effects.
//
// Everything reaches the page through createElement + textContent: no HTML strings, ever.

export function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// A red line for the widget's `error` traitlet; hidden while empty.
export function errorLine() {
  const node = h("div", "jce-error");
  node.setAttribute("role", "alert");
  return node;
}

export function showError(node, text) {
  node.textContent = text || "";
  node.style.display = text ? "" : "none";
}

// A label + <progress> row, hidden until `show(label, fraction)` gets a label.
export function progressRow() {
  const row = h("div", "jce-row jce-progress-row");
  const label = h("span", "jce-label");
  const bar = h("progress", "jce-progress");
  bar.max = 1;
  row.append(label, bar);
  const show = (text, fraction) => {
    row.style.display = text ? "" : "none";
    label.textContent = text || "";
    bar.value = fraction || 0;
  };
  show("", 0);
  return { row, show };
}

// model.on for each {"change:x": fn}; returns the cleanup anywidget calls on unmount.
export function subscribe(model, handlers) {
  for (const [name, fn] of Object.entries(handlers)) model.on(name, fn);
  return () => {
    for (const [name, fn] of Object.entries(handlers)) model.off(name, fn);
  };
}

export function humanSize(n) {
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

export function humanCount(n) {
  if (!n) return "";
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)} M`;
  return String(n);
}

// Markdown arrives from Python (widgets/markdown.py) as a tree of {tag, attrs, children} and
// {text} nodes. Only the tags and attributes below are built; a link keeps its href only for
// http(s) and mailto (Python checked it too: two locks on one door).
const TAGS = new Set([
  "p", "em", "strong", "code", "pre", "a", "ul", "ol", "li", "blockquote", "h1", "h2", "h3",
  "h4", "h5", "h6", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "s", "del",
]);
const SAFE_HREF = /^(https?:|mailto:)/i;

export function renderTree(nodes, parent) {
  for (const node of nodes || []) {
    if (typeof node.text === "string") {
      parent.appendChild(document.createTextNode(node.text));
      continue;
    }
    if (!TAGS.has(node.tag)) {
      renderTree(node.children, parent); // unknown tag: keep its text, drop the element
      continue;
    }
    const el = document.createElement(node.tag);
    const attrs = node.attrs || {};
    if (node.tag === "a" && typeof attrs.href === "string" && SAFE_HREF.test(attrs.href)) {
      el.setAttribute("href", attrs.href);
      el.setAttribute("target", "_blank");
      el.setAttribute("rel", "noopener noreferrer");
    }
    if (node.tag === "ol" && Number.isInteger(attrs.start)) el.setAttribute("start", String(attrs.start));
    if (node.tag === "code" && typeof attrs.lang === "string") el.dataset.lang = attrs.lang;
    renderTree(node.children, el);
    parent.appendChild(el);
  }
  return parent;
}
