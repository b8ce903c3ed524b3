/* CapeControl dashboard: actions through the JSON API, the start form, the live event stream.
   Every write goes to /v1 with the session cookie and its CSRF token (X-CSRF-Token). */
"use strict";
(function () {
  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)cape_csrf=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function flash(text) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  }

  // `body`: an object sent as JSON, or FormData sent as multipart (the browser sets the boundary).
  async function call(method, url, body) {
    const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
    const multipart = body instanceof FormData;
    if (body !== undefined && !multipart) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined || multipart ? body : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401) { location.href = "/ui/login?next=" + encodeURIComponent(location.pathname); }
    if (!response.ok) {
      const err = (data && data.error) || {};
      let text = err.message || ("HTTP " + response.status);
      const details = Array.isArray(err.details) ? err.details : [];
      // A file's 422 already names its field and says why in the message.
      if (details.length && !/^invalid file: /.test(text)) {
        text += ": " + details.map((d) => (d.field || "") + " " + (d.message || "")).join("; ");
      }
      const failure = new Error(text);
      failure.fields = details.map((d) => d.field || "");
      throw failure;
    }
    return data;
  }

  // Re-read the task page's changing part. Only the newest answer is applied: an older one
  // that arrives late would show a state the task has already left.
  let asked = 0;
  async function refreshPanel() {
    const live = document.getElementById("live-task");
    if (!live) return;
    const mine = ++asked;
    const response = await fetch("/ui/tasks/" + live.dataset.taskId + "/panel", {
      headers: { "HX-Request": "true" }, credentials: "same-origin",
    });
    if (response.status === 401) { location.href = "/ui/login?next=" + encodeURIComponent(location.pathname); return; }
    const html = await response.text();
    if (mine !== asked || !response.ok) return;
    const panel = document.getElementById("panel");
    if (panel) panel.outerHTML = html;
  }

  let pending = null;
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refreshPanel(); }, 150);
  }

  // htmx requests carry the token too (it only polls with GET today; writes would need it).
  document.addEventListener("htmx:configRequest", (e) => { e.detail.headers["X-CSRF-Token"] = csrf(); });

  // Buttons with data-api: POST to the JSON API, then show the result.
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-api]");
    if (button) {
      if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
      button.disabled = true;
      try {
        const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
        const out = await call(button.dataset.method || "POST", button.dataset.api, body);
        flash("");
        if (button.dataset.goto === "task" && out && out.id) { location.href = "/ui/tasks/" + out.id; return; }
        if (document.getElementById("live-task")) { refreshPanel(); } else { location.reload(); }
      } catch (err) { flash(err.message); button.disabled = false; }
      return;
    }
    if (e.target.closest("[data-logout]")) {
      try { await call("DELETE", "/v1/session"); } catch (err) { /* already logged out */ }
      location.href = "/ui/login";
    }
  });

  function typed(el) {
    const type = el.dataset.type;
    if (type === "boolean") return el.checked;
    const raw = el.value;
    if (raw === "") return undefined;
    if (type === "integer") return parseInt(raw, 10);
    if (type === "number") return Number(raw);
    if (type === "json" || type === "whole") {
      try { return JSON.parse(raw); } catch (err) { throw new Error((el.dataset.field || "input") + ": not valid JSON"); }
    }
    return raw;
  }

  // The start form's files: list the chosen ones under the field (the path each gets).
  document.addEventListener("change", (e) => {
    const input = e.target;
    if (!(input instanceof HTMLInputElement) || !input.matches("[data-files]")) return;
    const error = document.getElementById("start-error");
    if (error && input.getAttribute("aria-invalid") === "true") error.hidden = true;  // new files
    input.removeAttribute("aria-invalid");
    const list = document.getElementById(input.id + "-chosen");
    if (!list) return;
    list.replaceChildren(...[...input.files].map((file) => {
      const li = document.createElement("li");
      li.textContent = "input/" + file.name + " (" + file.size.toLocaleString() + " bytes)";
      return li;
    }));
    list.hidden = input.files.length === 0;
  });

  // The start form's error, in the form: a refused file is named and its field marked.
  function startError(form, err, chosen) {
    const box = document.getElementById("start-error");
    const files = form.querySelector("input[data-files]");
    if (files) files.removeAttribute("aria-invalid");
    if (!box) { flash(err ? err.message : ""); return; }
    box.hidden = !err;
    if (!err) { box.textContent = ""; return; }
    let text = err.message;
    if (err instanceof TypeError) {  // no answer: the server closed the upload (e.g. too large)
      text = "The request did not go through (" + err.message + "). Are the files over the limits?";
    }
    const field = (err.fields || []).find((f) => /^body\.file(\.|$)/.test(f));
    if (field !== undefined && files) {
      const file = chosen[Number(field.split(".")[2])];
      if (file) text = file.name + ": " + text;
      files.setAttribute("aria-invalid", "true");
      files.focus();
    }
    box.textContent = text;
  }

  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (form.id === "start-form") {
      e.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const picker = form.querySelector("input[data-files]");
      const chosen = picker ? [...picker.files] : [];
      try {
        let input = {};
        for (const el of form.querySelectorAll("[data-field]")) {
          const value = typed(el);
          if (el.dataset.type === "whole") { input = value || {}; } else if (value !== undefined) { input[el.dataset.field] = value; }
        }
        const body = { agent: form.dataset.agent, input };
        for (const el of form.querySelectorAll("[data-option]")) {
          const value = typed(el);
          if (value !== undefined) body[el.dataset.option] = value;
        }
        let payload = body;
        if (chosen.length) {  // multipart: the task as JSON in `task`, one `file` part each
          payload = new FormData();
          payload.append("task", JSON.stringify(body));
          for (const file of chosen) payload.append("file", file, file.name);
        }
        button.disabled = true;
        startError(form, null, chosen);
        const task = await call("POST", "/v1/tasks", payload);
        location.href = "/ui/tasks/" + task.id;
      } catch (err) { startError(form, err, chosen); button.disabled = false; }
      return;
    }
    if (form.matches("form[data-api-form]")) {
      e.preventDefault();
      const body = {};
      for (const el of form.querySelectorAll("input[name], select[name], textarea[name]")) {
        if (el.value !== "") body[el.name] = el.value;
      }
      try { await call("POST", form.dataset.apiForm, body); location.reload(); } catch (err) { flash(err.message); }
      return;
    }
    if (form.matches("form.answer-form[data-api]")) {
      e.preventDefault();
      const action = e.submitter ? e.submitter.value : "approve";
      const body = { request_id: form.dataset.requestId, action };
      for (const el of form.querySelectorAll("input[name]")) {
        if (el.value === "") continue;
        body[el.name] = el.dataset.type === "number" ? Number(el.value) : el.value;
      }
      if (action !== "reject") delete body.reason;
      for (const b of form.querySelectorAll("button")) b.disabled = true;
      try {
        await call("POST", form.dataset.api, body);
        flash("");
        const row = form.closest("[data-inbox-item]");
        if (row) { row.querySelector(".answered").hidden = false; form.remove(); } else { refreshPanel(); }
      } catch (err) { flash(err.message); for (const b of form.querySelectorAll("button")) b.disabled = false; }
    }
  });

  // The task page: follow /v1/tasks/{id}/events (EventSource resumes with Last-Event-ID).
  function follow(live) {
    const id = live.dataset.taskId;
    const stream = document.getElementById("stream");
    const list = document.getElementById("events");
    const count = document.getElementById("event-count");
    const state = document.getElementById("stream-state");
    const turns = {};
    let seen = 0;

    function turn(step) {
      if (turns[step]) return turns[step];
      const empty = document.getElementById("stream-empty");
      if (empty) empty.remove();
      const box = document.createElement("div");
      box.className = "turn";
      box.dataset.step = step;
      box.innerHTML = '<span class="label">Step ' + step + '</span><div class="text"></div>';
      stream.appendChild(box);
      turns[step] = { box, text: box.querySelector(".text"), attempt: 0 };
      return turns[step];
    }

    function note(ev) {
      seen += 1;
      count.textContent = String(seen);
      if (ev.type === "token-delta") return;  // counted, not listed: there are many
      const li = document.createElement("li");
      li.textContent = "#" + ev.seq + " " + ev.type + (ev.step_id ? " (step " + ev.step_id + ")" : "");
      list.appendChild(li);
    }

    const source = new EventSource("/v1/tasks/" + id + "/events");
    function onEvent(message) {
      const ev = JSON.parse(message.data);
      note(ev);
      if (ev.type === "token-delta") {
        const t = turn(ev.step_id || "0");
        const attempt = ev.data.attempt || 1;
        if (attempt !== t.attempt) { t.text.textContent = ""; t.attempt = attempt; }  // a retried call starts over
        t.text.textContent += ev.data.text || "";
      } else if (ev.type === "assistant-message") {
        const text = ev.data.content || ev.data.text || "";
        if (text) turn(ev.step_id || "0").text.textContent = text;
      } else if (ev.channel !== "usage") {
        refreshSoon();
      }
    }
    for (const channel of ["lifecycle", "messages", "tools", "input", "usage", "model-fallback", "artifacts"]) {
      source.addEventListener(channel, onEvent);
    }
    source.addEventListener("end", (message) => {
      source.close();
      const end = JSON.parse(message.data);
      stream.setAttribute("aria-busy", "false");
      live.dataset.ended = "true";
      state.textContent = "ended: " + end.data.status;
      refreshPanel();
    });
    source.onerror = () => { state.textContent = "reconnecting…"; };
    source.onopen = () => { state.textContent = live.dataset.ended === "true" ? "" : "live"; };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const live = document.getElementById("live-task");
    if (live) follow(live);
  });
})();
