// cpb serve: the farm's status page.  Plain JavaScript, no framework, no network but this
// server: the documents come from the JSON API (docs/serve.md), live updates from
// server-sent events (/api/events, a task's logs), and the plot is SVG drawn here.
"use strict";

const STATES = ["DONE", "RUNNING", "QUEUED", "HELD", "FAILED", "CANCELLED"];
const SVG = "http://www.w3.org/2000/svg";

const ui = {
  csrf: null,
  overview: null,
  clockSkew: 0,        // server time minus ours, in seconds
  batch: null,         // {ns, batch} shown below the list
  batchCounts: "",     // the counts the task table was drawn for
  filter: new Set(),   // states shown in the task table (empty: all)
  tasks: [],
  log: null,           // {ns, batch, task, source}
};

// ------------------------------------------------------------------ helpers

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

function now() { return Date.now() / 1000 + ui.clockSkew; }

function duration(s) {
  if (s == null || !isFinite(s) || s < 0) return "–";
  s = Math.round(s);
  if (s < 60) return s + "s";
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (d > 0) return d + "d " + (h % 24) + "h";
  if (h > 0) return h + "h " + (m % 60) + "m";
  return m + "m " + (s % 60) + "s";
}

function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function clockTime(t, seconds) {
  const o = { hour: "2-digit", minute: "2-digit" };
  if (seconds) o.second = "2-digit";
  return new Date(t * 1000).toLocaleTimeString([], o);
}

function batchPath(ns, batch) {
  return "/api/batches/" + encodeURIComponent(ns) + "/" + encodeURIComponent(batch);
}

async function api(path, options) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  let doc = null;
  try { doc = await r.json(); } catch (e) { doc = null; }
  if (!r.ok) throw new Error((doc && doc.error) || r.status + " " + r.statusText);
  return doc;
}

function problem(text) {
  const p = $("problem");
  p.hidden = !text;
  p.textContent = text || "";
}

// ------------------------------------------------------------------ nodes

function renderNodes(nodes) {
  const body = $("nodes").tBodies[0];
  body.replaceChildren();
  for (const n of nodes) {
    const caps = (n.capabilities || []).join(", ") || "–";
    const state = n.paused ? "paused" : (n.reachable === false ? "unreachable" : "ready");
    body.append(el("tr", { "data-node": n.name },
      el("td", {}, n.name + (n.local ? " (this host)" : "")),
      el("td", { class: "num" }, n.cpus),
      el("td", { class: "num" }, bytes(n.memory)),
      el("td", { class: "num" }, n.load1 == null ? "–" : n.load1.toFixed(2)),
      el("td", { class: "num" }, bytes(n.mem_available)),
      el("td", { class: "num" }, n.running),
      el("td", {}, caps),
      el("td", {}, state)));
  }
}

// ------------------------------------------------------------------ batches

function progressBar(counts, total) {
  const bar = el("div", { class: "bar", title: "progress" });
  for (const s of STATES) {
    if (!counts[s]) continue;
    const seg = el("span", { class: "seg-" + s, title: counts[s] + " " + s.toLowerCase() });
    seg.style.width = (100 * counts[s] / total) + "%";
    bar.append(seg);
  }
  return bar;
}

function countLine(counts) {
  const line = el("div", { class: "line counts" });
  for (const s of STATES)
    line.append(el("span", { class: "count", "data-state": s },
      el("b", {}, counts[s] || 0), " " + s.toLowerCase()));
  return line;
}

function rateLine(b) {
  const parts = [];
  if (b.run) {
    parts.push("running since " + clockTime(b.run.started) + " (cpb pid " + b.run.pid + ")");
    parts.push(b.rate ? b.rate.toFixed(b.rate < 10 ? 1 : 0) + " tasks/min" : "no task finished yet in this run");
    const left = (b.counts.QUEUED || 0) + (b.counts.RUNNING || 0);
    if (b.eta_seconds != null && left > 0) parts.push("ETA " + duration(b.eta_seconds));
    else if (left === 0) parts.push("finishing");
  } else {
    parts.push("no run in progress");
    if (b.last_ended) parts.push("last task ended " + clockTime(b.last_ended));
  }
  return el("div", { class: "line muted rate" }, parts.join(" · "));
}

function renderBatches(batches) {
  const box = $("batches");
  box.replaceChildren();
  if (!batches.length) {
    box.append(el("p", { class: "empty" }, "No batches yet: ", el("code", {}, "cpb run jobs.yaml"), " starts one."));
    return;
  }
  for (const b of batches) {
    const key = b.namespace + "/" + b.batch;
    const selected = ui.batch && ui.batch.ns === b.namespace && ui.batch.batch === b.batch;
    const card = el("div", { class: "batch" + (selected ? " selected" : ""), "data-batch": key },
      el("div", { class: "name" }, key, el("span", { class: "muted" },
        "  " + b.finished + " of " + b.total + " finished")),
      progressBar(b.counts, b.total || 1), countLine(b.counts), rateLine(b));
    card.addEventListener("click", () => { location.hash = "#/batch/" + key; });
    box.append(card);
  }
}

function findBatch(ns, batch) {
  const o = ui.overview;
  return o && o.batches.find((b) => b.namespace === ns && b.batch === batch);
}

function onOverview(doc) {
  ui.overview = doc;
  ui.clockSkew = doc.now - Date.now() / 1000;
  problem(null);
  renderNodes(doc.nodes || []);
  renderBatches(doc.batches || []);
  if (ui.batch) {
    const b = findBatch(ui.batch.ns, ui.batch.batch);
    const counts = b ? JSON.stringify(b.counts) : "";
    renderSummary(b);
    if (counts !== ui.batchCounts) loadBatch();
  }
}

// ------------------------------------------------------------------ one batch

function renderSummary(b) {
  const box = $("batch-summary");
  box.replaceChildren();
  if (!b) { box.append(el("span", { class: "muted" }, "this batch is not in the state database")); return; }
  box.append(countLine(b.counts), rateLine(b));
}

function taskTime(t) {
  if (!t.started) return "–";
  const end = t.ended || (t.state === "RUNNING" ? now() : 0);
  return end >= t.started ? duration(end - t.started) : "–";
}

// Why a task is where it is: what the database says, or what follows from the run.
function taskMessage(t, b) {
  const parts = [];
  if (t.helper && t.helper.timed_out) parts.push("timed out");
  if (t.message) parts.push(t.message);
  else if (t.state === "QUEUED") parts.push(b && b.run ? "waiting for a free slot or its inputs" : "waiting: no cpb run is going");
  else if (t.state === "HELD") parts.push("held: release it to run");
  return parts.join("; ");
}

function actionButton(label, action, t, danger) {
  const b = el("button", { type: "button", class: "small" + (danger ? " danger" : ""), "data-action": action }, label);
  b.addEventListener("click", (ev) => { ev.stopPropagation(); act(action, t.name); });
  return b;
}

function taskRow(t, b) {
  const h = t.helper;
  const name = el("a", { class: "task", href: "#/task/" + ui.batch.ns + "/" + ui.batch.batch + "/" + t.name }, t.name);
  const acts = el("td", {});
  if (t.state === "QUEUED") acts.append(actionButton("Hold", "hold", t));
  if (t.state === "HELD") acts.append(actionButton("Release", "release", t));
  if (t.state === "QUEUED" || t.state === "HELD" || t.state === "RUNNING") acts.append(" ", actionButton("Cancel", "cancel", t, true));
  return el("tr", { "data-task": t.name, "data-state": t.state },
    el("td", {}, name),
    el("td", {}, el("span", { class: "state st-" + t.state }, t.state)),
    el("td", {}, t.node || "–"),
    el("td", { class: "num" }, t.exit_code == null ? "–" : t.exit_code),
    el("td", { class: "num" }, taskTime(t)),
    el("td", { class: "num" }, h ? (h.user_seconds + h.sys_seconds).toFixed(2) + "s" : "–"),
    el("td", { class: "num" }, h ? bytes(h.max_rss_kib * 1024) : "–"),
    el("td", { class: "msg" }, taskMessage(t, b)),
    acts);
}

function renderTasks() {
  const body = $("tasks").tBodies[0], b = findBatch(ui.batch.ns, ui.batch.batch);
  body.replaceChildren();
  for (const t of ui.tasks) body.append(taskRow(t, b));
}

function renderFilter() {
  const box = $("filter");
  box.replaceChildren();
  const all = el("button", { type: "button", class: ui.filter.size ? "" : "on" }, "All");
  all.addEventListener("click", () => { ui.filter.clear(); renderFilter(); loadBatch(); });
  box.append(all);
  for (const s of STATES) {
    const b = el("button", { type: "button", class: ui.filter.has(s) ? "on" : "", "data-state": s }, s.toLowerCase());
    b.addEventListener("click", () => {
      ui.filter.has(s) ? ui.filter.delete(s) : ui.filter.add(s);
      renderFilter();
      loadBatch();
    });
    box.append(b);
  }
}

const TASK_PAGE = 500;

async function loadBatch() {
  if (!ui.batch) return;
  const { ns, batch } = ui.batch, base = batchPath(ns, batch);
  const b = findBatch(ns, batch);
  ui.batchCounts = b ? JSON.stringify(b.counts) : "";
  const q = "?limit=" + TASK_PAGE + (ui.filter.size ? "&state=" + [...ui.filter].join(",") : "");
  try {
    const [page, fin] = await Promise.all([api(base + "/tasks" + q), api(base + "/finished")]);
    if (!ui.batch || ui.batch.ns !== ns || ui.batch.batch !== batch) return;
    ui.tasks = page.tasks;
    renderTasks();
    const more = $("tasks-more");
    more.hidden = page.total <= page.tasks.length;
    more.textContent = "showing " + page.tasks.length + " of " + page.total + " tasks: choose a state above to see the others";
    drawPlot(fin.points, b);
  } catch (e) {
    problem("cannot read batch " + ns + "/" + batch + ": " + e.message);
  }
}

function showBatch(ns, batch) {
  const changed = !ui.batch || ui.batch.ns !== ns || ui.batch.batch !== batch;
  ui.batch = { ns, batch };
  $("batch").hidden = false;
  $("batch-title").textContent = "Batch " + ns + "/" + batch;
  if (changed) { ui.filter.clear(); ui.tasks = []; $("tasks").tBodies[0].replaceChildren(); }
  renderFilter();
  renderSummary(findBatch(ns, batch));
  if (ui.overview) renderBatches(ui.overview.batches);
  loadBatch();
}

// ------------------------------------------------------------------ the plot

function drawPlot(points, b) {
  const plot = $("plot"), W = 960, H = 200, L = 44, R = 12, T = 10, B = 26;
  plot.replaceChildren();
  const total = b ? b.total : (points.length ? points[points.length - 1][1] : 0);
  if (!points.length) {
    const t = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" });
    t.textContent = "no task has finished yet";
    plot.append(t);
    return;
  }
  const t0 = Math.min(points[0][0], b && b.first_started ? b.first_started : points[0][0]);
  const t1 = Math.max(points[points.length - 1][0], b && b.run ? now() : 0, t0 + 1);
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = (n) => H - B - (H - T - B) * n / Math.max(total, 1);
  let d = "M" + x(t0) + "," + y(0);
  for (const [t, n] of points) d += " L" + x(t).toFixed(1) + "," + y(n).toFixed(1);
  const last = points[points.length - 1];
  d += " L" + x(t1).toFixed(1) + "," + y(last[1]).toFixed(1);
  plot.append(svg("path", { class: "area", d: d + " L" + x(t1) + "," + y(0) + " Z" }));
  plot.append(svg("path", { class: "curve", d }));
  plot.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  plot.append(svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  const labels = [[L - 6, y(total) + 4, "end", String(total)], [L - 6, y(0) + 4, "end", "0"],
    [L, H - 8, "start", clockTime(t0, t1 - t0 < 7200)], [W - R, H - 8, "end", clockTime(t1, t1 - t0 < 7200)],
    [(L + W - R) / 2, H - 8, "middle", last[1] + " finished"]];
  for (const [lx, ly, anchor, text] of labels) {
    const t = svg("text", { x: lx, y: ly, "text-anchor": anchor });
    t.textContent = text;
    plot.append(t);
  }
}

// ------------------------------------------------------------------ a task's logs

function showLog(ns, batch, task) {
  if (!ui.batch || ui.batch.ns !== ns || ui.batch.batch !== batch) showBatch(ns, batch);
  if (ui.log && ui.log.source) ui.log.source.close();
  const out = $("log-out");
  out.replaceChildren();
  $("log").hidden = false;
  $("log-title").textContent = "Logs of " + task;
  $("log-state").textContent = "reading…";
  const source = new EventSource(batchPath(ns, batch) + "/tasks/" + encodeURIComponent(task) + "/logs?follow=1");
  ui.log = { ns, batch, task, source };
  const append = (cls) => (ev) => {
    out.append(el("span", { class: cls }, JSON.parse(ev.data)));
    out.scrollTop = out.scrollHeight;
    $("log-state").textContent = "live";
  };
  source.addEventListener("stdout", append("out"));
  source.addEventListener("stderr", append("err"));
  source.addEventListener("end", (ev) => {
    const end = JSON.parse(ev.data);
    source.close();
    const st = end.state && end.state !== "RUNNING" ? " (" + end.state + ")" : "";
    $("log-state").textContent = end.error ? end.error : "output ended" + st;
    if (!out.childNodes.length && !end.error) out.append(el("span", { class: "muted" }, "(no output)"));
  });
  source.onerror = () => { $("log-state").textContent = "reconnecting…"; };
  $("log").scrollIntoView({ block: "nearest" });
}

// ------------------------------------------------------------------ actions

async function act(action, task) {
  if (!ui.batch) return;
  if (action === "cancel" && !window.confirm("Cancel " + (task || "the unfinished tasks of " + ui.batch.batch) + "?")) return;
  const path = batchPath(ui.batch.ns, ui.batch.batch) + (task ? "/tasks/" + encodeURIComponent(task) : "") + "/" + action;
  try {
    await api(path, { method: "POST", headers: { "X-CPB-CSRF": ui.csrf } });
    loadBatch();
  } catch (e) {
    problem(action + (task ? " " + task : "") + ": " + e.message);
  }
}

// ------------------------------------------------------------------ routing and start

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "batch" && parts.length === 3) showBatch(parts[1], parts[2]);
  else if (parts[0] === "task" && parts.length === 4) showLog(parts[1], parts[2], parts[3]);
  else {
    ui.batch = null;
    $("batch").hidden = true;
    $("log").hidden = true;
    if (ui.log && ui.log.source) ui.log.source.close();
    if (ui.overview) renderBatches(ui.overview.batches);
  }
}

function connectEvents() {
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => { $("live").className = "live on"; $("live").textContent = "live"; });
  es.addEventListener("overview", (ev) => onOverview(JSON.parse(ev.data)));
  es.addEventListener("problem", (ev) => problem(JSON.parse(ev.data).error));
  es.addEventListener("error", () => {
    $("live").className = "live off";
    $("live").textContent = "reconnecting";
  });
}

function tick() {
  $("clock").textContent = new Date(now() * 1000).toLocaleTimeString();
  if (ui.batch && ui.tasks.some((t) => t.state === "RUNNING")) {
    for (const row of $("tasks").tBodies[0].rows) {
      const t = ui.tasks.find((x) => x.name === row.dataset.task);
      if (t && t.state === "RUNNING") row.cells[4].textContent = taskTime(t);
    }
  }
}

async function start() {
  $("batch-hold").addEventListener("click", () => act("hold"));
  $("batch-release").addEventListener("click", () => act("release"));
  $("batch-cancel").addEventListener("click", () => act("cancel"));
  window.addEventListener("hashchange", route);
  try {
    ui.csrf = (await api("/api/session")).csrf;
    onOverview(await api("/api/overview"));
  } catch (e) {
    problem("cannot reach cpb serve: " + e.message);
  }
  route();
  connectEvents();
  setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", start);
