/**
 * The dashboard at /kto: one static page that polls /kto/api/dashboard every two seconds
 * and ticks elapsed times each second, and draws the queue's and runners' plots with uPlot
 * from /kto/api/activity every thirty. Every value is set as text, never as HTML: job and
 * runner names come from repositories kto does not control.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kto</title>
<link rel="stylesheet" href="/kto/assets/uplot.css">
<script src="/kto/assets/uplot.js"></script>
<style>
  :root { color-scheme: light dark; --muted: #6e7781; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --line: #d0d7de; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; max-width: 1200px; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  .muted { color: var(--muted); }
  .counts span { display: inline-block; margin-right: 1rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-weight: 600; }
  code, .label { font: 12px ui-monospace, monospace; }
  .label { border: 1px solid var(--line); border-radius: 1em; padding: 0 .5em; margin: 0 .2em .2em 0; display: inline-block; }
  .success { color: var(--ok); } .failure, .timed_out { color: var(--bad); } .neutral, .cancelled { color: var(--warn); }
  .empty { color: var(--muted); font-style: italic; }
  .plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(540px, 1fr)); gap: 1rem; }
  .plot h3 { font-size: .95rem; margin: .5rem 0 .2rem; }
  form.go { display: inline-block; margin: 0 1.5rem .5rem 0; } form.go input { font: inherit; width: 12em; }
</style>
</head>
<body>
<h1>kto</h1>
<div class="muted">Kernel test orchestrator · updated <span id="updated">—</span></div>
<p class="counts" id="counts"></p>
<form class="go" action="/kto/pulls" method="get">Pull request <input name="repo" placeholder="owner/name" required> <input name="number" placeholder="number" required style="width:5em"> <button>open</button></form>
<form class="go" action="/kto/compare" method="get">Compare <input name="repo" placeholder="owner/name" required> <input name="base" placeholder="base commit" required> <input name="head" placeholder="head commit" required> <button>open</button></form>
<h2>Queue <span class="muted">(by priority, then arrival)</span></h2>
<table id="queue"><thead><tr><th>#</th><th>job</th><th>repository</th><th>priority</th><th>needs labels</th><th>waiting</th></tr></thead><tbody></tbody></table>
<h2>Runners</h2>
<table id="runners"><thead><tr><th>runner</th><th>state</th><th>labels</th><th>job</th></tr></thead><tbody></tbody></table>
<h2>Running</h2>
<table id="running"><thead><tr><th>job</th><th>repository</th><th>runner</th><th>state</th><th>elapsed</th><th>run</th></tr></thead><tbody></tbody></table>
<h2>Recent results</h2>
<table id="recent"><thead><tr><th>job</th><th>repository</th><th>conclusion</th><th>result</th><th>took</th><th>links</th></tr></thead><tbody></tbody></table>
<h2>Activity <select id="hours"><option value="6">last 6 hours</option><option value="24" selected>last 24 hours</option><option value="72">last 3 days</option><option value="168">last 7 days</option></select> <span class="muted" id="activity-note"></span></h2>
<div class="plots">
<div class="plot" id="plot-queue"><h3>Queue depth</h3></div>
<div class="plot" id="plot-waits"><h3>Wait for a runner, by label set (s)</h3></div>
<div class="plot" id="plot-utilisation"><h3>Runner utilisation (%)</h3></div>
<div class="plot" id="plot-faults"><h3>Infrastructure faults, by host</h3></div>
</div>
<table id="faults"><thead><tr><th>host</th><th>infrastructure faults</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
let data = null;
let skew = 0;
const duration = (ms) => {
  if (ms === null || ms === undefined) return "—";
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? s + "s" : s < 3600 ? Math.floor(s / 60) + "m " + (s % 60) + "s" : Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
};
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; };
const link = (href, text) => { const a = el("a", text); a.href = href; return a; };
const labels = (list) => { const td = el("td"); for (const l of list) td.append(el("span", l, "label")); return td; };
function fill(id, rows, columns, emptyText) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren();
  if (rows.length === 0) { const tr = el("tr"); const td = el("td", emptyText, "empty"); td.colSpan = columns; tr.append(td); body.append(tr); return; }
  for (const cells of rows) { const tr = el("tr"); for (const c of cells) tr.append(c instanceof Node ? c : el("td", c)); body.append(tr); }
}
function render() {
  if (!data) return;
  const now = Date.now() - skew;
  document.getElementById("updated").textContent = new Date(data.generatedAt).toLocaleTimeString();
  const counts = document.getElementById("counts");
  counts.replaceChildren(...Object.entries(data.counts).filter(([, n]) => n > 0).map(([state, n]) => el("span", state.replace("_", " ") + ": " + n)));
  fill("queue", data.queue.map((j, i) => [String(i + 1), el("td", j.name + (j.approval ? " (awaiting approval)" : j.waitingFor ? " (waiting for build " + j.waitingFor + ")" : "")), j.repo ?? "—", String(j.priority), labels(j.labels), duration(now - j.queuedAt)]), 6, "Nothing waiting.");
  fill("runners", data.runners.map((r) => [r.name, el("td", r.busy ? "busy" : r.state, r.state === "online" ? (r.busy ? "neutral" : "success") : "failure"), labels(r.labels), r.job ?? "—"]), 4, "No runners online.");
  fill("running", data.running.map((j) => [j.name, j.repo ?? "—", j.runner ?? "—", j.state, el("td", duration(now - j.since), "elapsed"), j.runUrl ? (() => { const td = el("td"); td.append(link(j.runUrl, "workflow run")); return td; })() : "—"]), 6, "Nothing running.");
  fill("recent", data.recent.map((j) => {
    const links = el("td");
    if (j.checkRunUrl) links.append(link(j.checkRunUrl, "check run"), " ");
    if (j.runUrl) links.append(link(j.runUrl, "workflow run"));
    return [j.name, j.repo ?? "—", el("td", j.conclusion, j.conclusion), j.title, duration(j.durationMs), links];
  }), 6, "No results yet.");
}
async function refresh() {
  try {
    const response = await fetch("/kto/api/dashboard", { cache: "no-store" });
    if (response.ok) { data = await response.json(); skew = Date.now() - data.generatedAt; render(); }
  } catch { /* the App is restarting: keep the last picture */ }
}
const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#6e7781"];
const charts = {};
/** One uPlot per plot, made again when its series change (a label set or host appears). */
function plot(id, times, series) {
  const box = document.getElementById(id);
  const shape = series.map((s) => s.label).join("|");
  const values = [times, ...series.map((s) => s.values)];
  const width = Math.max(320, box.clientWidth - 8);
  if (charts[id] && charts[id].shape === shape) { charts[id].chart.setData(values); charts[id].chart.setSize({ width, height: 220 }); return; }
  if (charts[id]) charts[id].chart.destroy();
  const opts = { width, height: 220, series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: s.spanGaps === true }))], axes: [{}, { size: 50 }] };
  charts[id] = { shape, chart: new uPlot(opts, values, box) };
}
async function refreshActivity() {
  if (typeof uPlot === "undefined") return;
  try {
    const response = await fetch("/kto/api/activity?hours=" + encodeURIComponent(document.getElementById("hours").value), { cache: "no-store" });
    if (!response.ok) return;
    const a = await response.json();
    document.getElementById("activity-note").textContent = a.truncated ? "(the oldest jobs of this window are left out)" : "";
    plot("plot-queue", a.times, [{ label: "waiting", values: a.queueDepth }]);
    plot("plot-waits", a.times, a.waits.length ? a.waits.map((w) => ({ label: w.labels, values: w.seconds, spanGaps: true })) : [{ label: "no dispatches", values: a.times.map(() => null) }]);
    plot("plot-utilisation", a.times, [{ label: "busy of " + a.runners + " runners", values: a.utilisation }]);
    plot("plot-faults", a.times, a.faults.length ? a.faults.map((f) => ({ label: f.host, values: f.counts })) : [{ label: "no faults", values: a.times.map(() => 0) }]);
    fill("faults", a.faults.map((f) => [f.host, String(f.total)]), 2, "No infrastructure faults in this window.");
  } catch { /* the App is restarting: keep the last picture */ }
}
document.getElementById("hours").addEventListener("change", refreshActivity);
refresh();
refreshActivity();
setInterval(refresh, 2000);
setInterval(render, 1000);
setInterval(refreshActivity, 30000);
</script>
</body>
</html>
`;
