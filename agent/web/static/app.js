// labpilot dashboard: live updates (server-sent events) and actions without page reloads.
// Shipped with the package; no libraries, no CDN. Every fragment is rendered by the server.
"use strict";

(function () {
  const page = document.getElementById("page");

  function flash(results) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = "";
    for (const r of results) {
      const p = document.createElement("p");
      p.className = "msg " + (r.ok ? "good" : "bad");
      p.setAttribute("role", r.ok ? "status" : "alert");
      p.textContent = r.message;
      box.appendChild(p);
    }
  }

  // Actions: POST the form with fetch; show the replies (ok or the reason it was refused).
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!form.classList || !form.classList.contains("act")) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const data = new FormData(form);
    if (ev.submitter && ev.submitter.name) data.set(ev.submitter.name, ev.submitter.value);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const resp = await fetch(form.action, {
        method: "POST", body: data, headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      const body = await resp.json().catch(() => ({ results: [{ ok: false, message: "HTTP " + resp.status }] }));
      flash(body.results || [{ ok: false, message: body.error || "HTTP " + resp.status }]);
    } catch (err) {
      flash([{ ok: false, message: "could not reach the dashboard: " + err }]);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });

  if (!page) return;
  const cid = page.dataset.cid;

  // "select all" in the proposal table
  document.addEventListener("change", (ev) => {
    if (ev.target.id === "select-all") {
      // "all" means every proposal still awaiting a decision
      document.querySelectorAll("#queue .pick").forEach(
        (c) => (c.checked = ev.target.checked && c.dataset.status === "awaiting_approval"));
    }
  });

  function replaceKeepingChecks(id, html) {
    const el = document.getElementById(id);
    if (!el || el.dataset.html === html) return;
    const checked = new Set([...el.querySelectorAll("input.pick:checked")].map((c) => c.value));
    el.innerHTML = html;
    el.dataset.html = html;
    el.querySelectorAll("input.pick").forEach((c) => (c.checked = checked.has(c.value)));
  }

  function refreshPlots(version) {
    const exp = document.getElementById("pattern-exp");
    document.querySelectorAll("img.plot").forEach((img) => {
      const extra = img.id === "plot-pattern" && exp && exp.value ? "&exp=" + encodeURIComponent(exp.value) : "";
      img.src = img.dataset.base + "?v=" + encodeURIComponent(version) + extra;
    });
  }

  function refreshPatternChoices(ids) {
    const sel = document.getElementById("pattern-exp");
    if (!sel) return;
    const keep = sel.value;
    const want = ["", ...ids.slice().reverse().map(String)];
    const have = [...sel.options].map((o) => o.value);
    if (want.join(",") === have.join(",")) return;
    sel.textContent = "";
    for (const v of want) {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = v || "best";
      sel.appendChild(o);
    }
    sel.value = want.includes(keep) ? keep : "";
  }

  const patternSel = document.getElementById("pattern-exp");
  if (patternSel) patternSel.addEventListener("change", () => refreshPlots(page.dataset.plotVersion));

  // Journal filters: fetch the filtered fragment; refetch on every live update.
  const filter = document.getElementById("journal-filter");
  let journalAsked = 0;
  async function refreshJournal() {
    if (!filter) return;
    const mine = ++journalAsked; // only the newest request may fill the table
    const params = new URLSearchParams(new FormData(filter));
    const resp = await fetch(filter.action + "?" + params.toString(), { credentials: "same-origin" });
    const html = resp.ok ? await resp.text() : null;
    if (html !== null && mine === journalAsked) document.getElementById("journal").innerHTML = html;
  }
  if (filter) {
    filter.addEventListener("submit", (ev) => { ev.preventDefault(); refreshJournal(); });
  }

  // Live: the server sends fresh fragments whenever the journal grows.
  const live = document.getElementById("live");
  const source = new EventSource("/c/" + encodeURIComponent(cid) + "/stream");
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = "live off"; });
  source.addEventListener("update", (ev) => {
    const d = JSON.parse(ev.data);
    page.dataset.seq = d.seq;
    replaceKeepingChecks("status", d.status);
    replaceKeepingChecks("queue", d.queue);
    replaceKeepingChecks("experiments", d.experiments);
    refreshPatternChoices(d.finished);
    if (d.plot_version !== page.dataset.plotVersion) {
      page.dataset.plotVersion = d.plot_version;
      refreshPlots(d.plot_version);
    }
    refreshJournal();
  });
})();
