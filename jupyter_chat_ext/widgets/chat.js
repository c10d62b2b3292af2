// ChatWidget front end. Answers arrive as a markdown tree built in Python (widgets/markdown.py)
// and become elements through renderTree; everything else goes in through textContent.
// Tool calls come inside their assistant message (widgets/thread.py) and are drawn folded
// (<details>): name and status in the summary, arguments and result inside. A call in
// `pending_calls` with approval "required" gets Approve / Always / Deny below its summary.

import { h, errorLine, progressRow, renderTree, showError, subscribe } from "./dom.js";

function render({ model, el }) {
  const root = h("div", "jce-widget jce-chat");

  const header = h("div", "jce-row");
  const picker = h("select", "jce-select");
  picker.title = "Session";
  const newBtn = h("button", "jce-button", "New");
  newBtn.title = "Start a new session";
  const toolsBox = h("input", "jce-tools-toggle");
  toolsBox.type = "checkbox";
  const toolsLabel = h("label", "jce-label jce-tools-label");
  toolsLabel.title = "Let the model call tools (agent turns)";
  toolsLabel.append(toolsBox, document.createTextNode(" Tools"));
  header.append(h("span", "jce-label", "Session"), picker, newBtn, toolsLabel);

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

  const ROLES = { assistant: "Assistant", user: "You", tool: "Tool" };
  const opened = new Set(); // call ids the user unfolded: kept open across redraws

  // `blocks`: the markdown tree of an answer; a user's text is shown as typed
  function bubble(role, text, status, blocks, calls) {
    const item = h("div", `jce-message jce-${role}`);
    item.dataset.role = role;
    item.appendChild(h("div", "jce-role", ROLES[role] || role));
    if (Array.isArray(blocks) && blocks.length) {
      item.appendChild(renderTree(blocks, h("div", "jce-content jce-markdown")));
    } else if (text || !(calls && calls.length)) {
      item.appendChild(h("div", "jce-content", text));
    }
    for (const call of calls || []) item.appendChild(toolCall(call));
    if (status && status !== "complete") item.appendChild(h("div", "jce-status", status));
    return item;
  }

  function callState(call, pending) {
    if (call.result !== null && call.result !== undefined) return call.approval || "done";
    if (!pending) return "not run";
    if (pending.approval !== "required") return "running…";
    return pending.decision ? `${pending.decision}…` : "waiting for you";
  }

  function toolCall(call) {
    const pending = (model.get("pending_calls") || {})[call.id];
    const box = h("div", "jce-tool");
    box.dataset.callId = call.id;
    const fold = h("details", "jce-tool-call");
    fold.open = opened.has(call.id);
    fold.addEventListener("toggle", () => (fold.open ? opened.add(call.id) : opened.delete(call.id)));
    const summary = h("summary", "jce-tool-summary");
    summary.append(h("span", "jce-tool-name", call.name), h("span", "jce-tool-state", callState(call, pending)));
    if (call.is_error) box.classList.add("jce-tool-error");
    fold.append(summary, h("div", "jce-label", "Arguments"), h("pre", "jce-tool-args", call.arguments));
    if (call.result !== null && call.result !== undefined) {
      fold.append(h("div", "jce-label", "Result"), h("pre", "jce-tool-result", call.result));
    }
    box.appendChild(fold);
    if (pending && pending.approval === "required" && !pending.decision) {
      const row = h("div", "jce-row jce-tool-actions");
      const choices = [["approve", "Approve", "Run it once"], ["always", "Always", "Run it, and this tool from now on in this session"], ["deny", "Deny", "Do not run it; the model is told"]];
      for (const [decision, label, title] of choices) {
        const btn = h("button", `jce-button jce-tool-${decision}`, label);
        btn.title = title;
        btn.addEventListener("click", () => model.send({ type: "tool_decision", call_id: call.id, decision }));
        row.appendChild(btn);
      }
      box.appendChild(row);
    }
    return box;
  }

  function renderLog() {
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.replaceChildren();
    for (const m of model.get("messages") || []) {
      if (m.role === "system") continue;
      log.appendChild(bubble(m.role, m.content, m.status, m.blocks, m.calls));
    }
    const partial = model.get("partial");
    // while a call waits for the user, the buttons are what happens next: no "…" bubble below
    const asking = Object.values(model.get("pending_calls") || {}).some((c) => c.approval === "required" && !c.decision);
    if (model.get("busy") && !asking) {
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
    toolsBox.disabled = busy;
    toolsBox.checked = Boolean(model.get("tools"));
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
  toolsBox.addEventListener("change", () => {
    model.set("tools", toolsBox.checked);
    model.save_changes();
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
    "change:pending_calls": onLog,
    "change:tools": onState,
    "change:partial_blocks": onLog,
    "change:busy": onState,
    "change:info": onState,
    "change:error": onState,
    "change:loading": onState,
    "change:progress": onState,
  });
}

export default { render };
