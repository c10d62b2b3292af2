// ChatWidget front end. Answers arrive as a markdown tree built in Python (widgets/markdown.py)
// and become elements through renderTree; everything else goes in through textContent.

import { h, errorLine, progressRow, renderTree, showError, subscribe } from "./dom.js";

function render({ model, el }) {
  const root = h("div", "jce-widget jce-chat");

  const header = h("div", "jce-row");
  const picker = h("select", "jce-select");
  picker.title = "Session";
  const newBtn = h("button", "jce-button", "New");
  newBtn.title = "Start a new session";
  header.append(h("span", "jce-label", "Session"), picker, newBtn);

  const log = h("div", "jce-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");

  const load = progressRow();
  const info = h("div", "jce-info");
  const error = errorLine();

  const footer = h("div", "jce-row jce-input-row");
  const input = h("textarea", "jce-input");
  input.rows = 2;
  input.placeholder = "Ask something… (Enter to send, Shift+Enter for a new line)";
  const sendBtn = h("button", "jce-button jce-primary", "Send");
  const stopBtn = h("button", "jce-button jce-stop", "Stop");
  footer.append(input, sendBtn, stopBtn);

  root.append(header, log, load.row, info, error, footer);
  el.appendChild(root);

  function renderSessions() {
    const sessions = model.get("sessions") || [];
    const current = model.get("session_id");
    picker.replaceChildren();
    const blank = h("option", "", "(new session)");
    blank.value = "";
    picker.appendChild(blank);
    for (const s of sessions) {
      const opt = h("option", "", s.title);
      opt.value = s.id;
      picker.appendChild(opt);
    }
    picker.value = current || "";
  }

  // `blocks`: the markdown tree of an answer; a user's text is shown as typed
  function bubble(role, text, status, blocks) {
    const item = h("div", `jce-message jce-${role}`);
    item.dataset.role = role;
    item.appendChild(h("div", "jce-role", role === "assistant" ? "Assistant" : role === "user" ? "You" : role));
    if (Array.isArray(blocks) && blocks.length) {
      item.appendChild(renderTree(blocks, h("div", "jce-content jce-markdown")));
    } else {
      item.appendChild(h("div", "jce-content", text));
    }
    if (status && status !== "complete") item.appendChild(h("div", "jce-status", status));
    return item;
  }

  function renderLog() {
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.replaceChildren();
    for (const m of model.get("messages") || []) {
      if (m.role === "system") continue;
      log.appendChild(bubble(m.role, m.content, m.status, m.blocks));
    }
    const partial = model.get("partial");
    if (model.get("busy")) {
      const live = bubble("assistant", partial || "…", "", partial ? model.get("partial_blocks") : null);
      live.classList.add("jce-streaming");
      log.appendChild(live);
    }
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function renderState() {
    const busy = model.get("busy");
    sendBtn.disabled = busy;
    stopBtn.disabled = !busy;
    picker.disabled = busy;
    newBtn.disabled = busy;
    info.textContent = model.get("info") || "";
    showError(error, model.get("error"));
    const loading = model.get("loading");
    load.show(loading ? `Loading ${loading}` : "", model.get("progress"));
  }

  function send() {
    const text = input.value.trim();
    if (!text || model.get("busy")) return;
    model.send({ type: "send", content: text });
    input.value = "";
  }

  sendBtn.addEventListener("click", send);
  stopBtn.addEventListener("click", () => model.send({ type: "stop" }));
  newBtn.addEventListener("click", () => model.send({ type: "new_session" }));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  });
  picker.addEventListener("change", () => {
    model.set("session_id", picker.value);
    model.save_changes();
  });

  const onSessions = () => renderSessions();
  const onLog = () => renderLog();
  const onState = () => {
    renderState();
    renderLog();
  };
  renderSessions();
  renderLog();
  renderState();
  return subscribe(model, {
    "change:sessions": onSessions,
    "change:session_id": onSessions,
    "change:messages": onLog,
    "change:partial_blocks": onLog,
    "change:busy": onState,
    "change:info": onState,
    "change:error": onState,
    "change:loading": onState,
    "change:progress": onState,
  });
}

export default { render };
