// ChatWidget front end. All model output goes into the page through textContent only.

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

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

  const info = h("div", "jce-info");
  const error = h("div", "jce-error");
  error.setAttribute("role", "alert");

  const footer = h("div", "jce-row jce-input-row");
  const input = h("textarea", "jce-input");
  input.rows = 2;
  input.placeholder = "Ask something… (Enter to send, Shift+Enter for a new line)";
  const sendBtn = h("button", "jce-button jce-primary", "Send");
  const stopBtn = h("button", "jce-button jce-stop", "Stop");
  footer.append(input, sendBtn, stopBtn);

  root.append(header, log, info, error, footer);
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

  function bubble(role, text, status) {
    const item = h("div", `jce-message jce-${role}`);
    item.dataset.role = role;
    item.appendChild(h("div", "jce-role", role === "assistant" ? "Assistant" : role === "user" ? "You" : role));
    item.appendChild(h("div", "jce-content", text));
    if (status && status !== "complete") item.appendChild(h("div", "jce-status", status));
    return item;
  }

  function renderLog() {
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.replaceChildren();
    for (const m of model.get("messages") || []) {
      if (m.role === "system") continue;
      log.appendChild(bubble(m.role, m.content, m.status));
    }
    const partial = model.get("partial");
    if (model.get("busy")) {
      const live = bubble("assistant", partial || "…", "");
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
    error.textContent = model.get("error") || "";
    error.style.display = model.get("error") ? "" : "none";
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
  model.on("change:sessions", onSessions);
  model.on("change:session_id", onSessions);
  model.on("change:messages", onLog);
  model.on("change:partial", onLog);
  model.on("change:busy", onState);
  model.on("change:info", onState);
  model.on("change:error", onState);

  renderSessions();
  renderLog();
  renderState();

  return () => {
    model.off("change:sessions", onSessions);
    model.off("change:session_id", onSessions);
    model.off("change:messages", onLog);
    model.off("change:partial", onLog);
    model.off("change:busy", onState);
    model.off("change:info", onState);
    model.off("change:error", onState);
  };
}

export default { render };
