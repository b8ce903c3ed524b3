/* The events page's publish form: POST /v1/events with the session cookie and its CSRF token
   (X-CSRF-Token), like every dashboard write; a refusal is shown under the form. */
"use strict";
(function () {
  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)cape_csrf=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function problem(status, data) {
    const err = (data && data.error) || {};
    let text = err.message || ("HTTP " + status);
    const details = Array.isArray(err.details) ? err.details : (err.details && err.details.field ? [err.details] : []);
    if (details.length) {
      text += ": " + details.map((d) => ((d.field || "") + " " + (d.message || "")).trim()).join("; ");
    }
    return text;
  }

  function show(el, text) { el.textContent = text; el.hidden = !text; }

  async function publish(form) {
    const error = document.getElementById("publish-error");
    const done = document.getElementById("publish-done");
    const button = form.querySelector("button[type=submit]");
    show(error, ""); show(done, "");
    let data;
    try { data = JSON.parse(form.elements.data.value || "{}"); } catch (err) { show(error, "data: not valid JSON"); form.elements.data.focus(); return; }
    const body = { type: form.elements.type.value.trim(), priority: form.elements.priority.value, data };
    button.disabled = true;
    try {
      const response = await fetch("/v1/events", {
        method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
      });
      let out = null;
      try { out = await response.json(); } catch (err) { out = null; }
      if (response.status === 401) { location.href = "/ui/login?next=" + encodeURIComponent(location.pathname); return; }
      if (!response.ok) { show(error, problem(response.status, out)); return; }
      done.textContent = "";
      done.append((out.duplicate ? "Already published: " : "Published "));
      const link = document.createElement("a");
      link.href = "/ui/events/" + out.id;
      link.textContent = out.id;
      done.append(link);
      done.hidden = false;
      const rows = document.getElementById("event-rows");
      if (rows && window.htmx) window.htmx.trigger(rows, "refresh");
    } catch (err) {
      show(error, "not sent: " + err.message);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("submit", (e) => {
    if (e.target.id !== "publish-form") return;
    e.preventDefault();
    publish(e.target);
  });
})();
