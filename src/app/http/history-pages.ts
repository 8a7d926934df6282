/**
 * The dashboard's history pages: a pull request's, a test's, a comparison of two commits and
 * a bisection's (or a repository's newest bisections).
 * Each is one static page that reads its query string, asks the matching /kto/api/ route and
 * draws the answer. Every value is set as text, never as HTML, and links go only to the
 * server's own URLs (as the API gives them) or to /kto/ with encoded parameters: names and
 * paths come from repositories kto does not control.
 */

import { CHANGED_CASES_READ } from "../history/changed-comparison.js";

const STYLE = `
  :root { color-scheme: light dark; --muted: #6e7781; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --line: #d0d7de; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; max-width: 1200px; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .4rem; } h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
  .muted { color: var(--muted); } .error { color: var(--bad); font-weight: 600; }
  table { border-collapse: collapse; } th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
  code { font: 12px ui-monospace, monospace; }
  details { margin: .2rem 0 .4rem; } summary { cursor: pointer; }
  ul.tests { margin: .2rem 0; padding-left: 1.2rem; font: 12px ui-monospace, monospace; }
  .new, .failed, .errored { color: var(--bad); } .fixed, .passed { color: var(--ok); } .flaky, .known, .still_failing, .skipped { color: var(--warn); }
  .good { color: var(--ok); } .bad { color: var(--bad); } .skip, .running, .inconclusive, .cancelled { color: var(--warn); } .found { color: var(--bad); }
  .grid td.cell { text-align: center; min-width: 1.2em; padding: .15rem .25rem; font: 12px ui-monospace, monospace; }
`;

/** Helpers every history page shares: building elements from text, links into /kto, the class names as the README writes them. */
const HELPERS = `
"use strict";
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; };
const link = (href, text) => { const a = el("a", text); a.href = href; return a; };
const kto = (path, params) => link(path + "?" + new URLSearchParams(params).toString(), undefined);
const short = (sha) => sha.slice(0, 7);
const plural = (n, noun) => n + " " + noun + (n === 1 ? "" : "s");
const when = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC";
const CLASS_NAMES = { new: "regressions", still_failing: "still failing", flaky: "flaky", known: "known issues", new_test: "new tests", fixed: "fixed" };
const main = document.getElementById("main");
async function load(api) {
  const response = await fetch(api + location.search, { cache: "no-store" });
  const body = await response.json().catch(() => ({ message: "the answer is not JSON" }));
  if (!response.ok) { main.replaceChildren(el("p", body.message ?? "failed", "error")); return null; }
  return body;
}
/** A comparison's classes: each folded but regressions, each listing its first tests linked to their pages. */
function classes(repo, view) {
  const box = el("div");
  const counts = Object.entries(view.counts).filter(([, n]) => n > 0).map(([c, n]) => n + " " + CLASS_NAMES[c]);
  box.append(el("p", (counts.length ? counts.join(", ") : "nothing changed") + " · " + view.unchanged + " unchanged", "counts"));
  for (const group of view.classes) {
    const details = el("details");
    details.className = "class-" + group.class;
    details.open = group.class === "new";
    details.append(el("summary", CLASS_NAMES[group.class] + " (" + group.count + ")", group.class));
    const list = el("ul", undefined, "tests");
    for (const test of group.tests) {
      const item = el("li");
      const a = kto("/kto/tests", { repo, key: test.key });
      a.textContent = test.id;
      item.append(a, el("span", " " + (test.base ?? "absent") + " → " + test.head, "muted"));
      list.append(item);
    }
    if (group.count > group.tests.length) list.append(el("li", "… and " + (group.count - group.tests.length) + " more", "muted"));
    details.append(list);
    box.append(details);
  }
  if (view.unread > 0) box.append(el("p", "… and " + plural(view.unread, "more changed test") + ", not classified here: a page reads a run's first ${CHANGED_CASES_READ.toLocaleString("en")}", "muted unread"));
  for (const note of view.incomplete) box.append(el("p", note, "muted incomplete"));
  return box;
}
`;

function page(title: string, script: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · kto</title>
<style>${STYLE}</style>
</head>
<body>
<div class="muted"><a href="/kto">kto</a> · ${title}</div>
<div id="main"><p class="muted">Loading…</p></div>
<script>${HELPERS}${script}</script>
</body>
</html>
`;
}

export const PULL_HTML = page(
  "pull request",
  `
/** The baseline as the check run words it, or how it was chosen by time and why. */
function baselineText(job) {
  const b = job.baseline;
  const chosen = job.baselineChosen;
  if (chosen.by === "time")
    return "baseline chosen by time: " + (b ? short(b.sha) + ", the newest base-branch results finished before these (" + when(b.finishedAt) + ")" : "none, so every failing test counts as new") + "; " + chosen.why;
  if (!b) return "no baseline, as in the check run: every failing test counts as new";
  const from = chosen.mergeBase ? "the merge base" : "the parent commit";
  const where = b.commitsOlder === 0 ? from : plural(b.commitsOlder, "commit") + " older than " + from + (chosen.mergeBase ? " " + short(chosen.mergeBase) : "");
  return "baseline " + short(b.sha) + ", " + where + ", as the check run compared (" + when(b.finishedAt) + ")";
}
(async () => {
  const data = await load("/kto/api/pulls");
  if (!data) return;
  const heading = el("h1");
  const pr = link(data.pullUrl, data.repo + " #" + data.number);
  heading.append(pr);
  const regressions = data.jobs.reduce((n, j) => n + j.regressions, 0);
  const parts = [heading, el("p", plural(data.jobs.length, "job") + " · " + plural(regressions, "regression"), "summary"),
    el("p", "Each job's newest results against the base-branch results its check run compared them with; where none is recorded, against the newest base-branch results finished before them. The check run also applies the base branch's known issues.", "muted")];
  if (data.jobs.length === 0) parts.push(el("p", "No results of this pull request in history.", "muted"));
  let group = null;
  for (const job of data.jobs) {
    const name = (job.suite || job.jobKey) + (job.arch ? " · " + job.arch : "");
    if (name !== group) { parts.push(el("h2", name)); group = name; }
    const h = el("h3", job.jobKey + " ");
    h.className = "job";
    if (job.checkRunUrl) h.append(link(job.checkRunUrl, "check run"));
    parts.push(h);
    parts.push(el("p", "at " + short(job.sha) + ", attempt " + job.attempt + ", " + when(job.finishedAt), "muted"));
    parts.push(el("p", baselineText(job), "muted baseline"));
    for (const note of job.notes) parts.push(el("p", note, "muted note"));
    parts.push(classes(data.repo, job));
  }
  main.replaceChildren(...parts);
})();
`,
);

export const TEST_HTML = page(
  "test",
  `
const SYMBOL = { passed: "✓", failed: "✗", errored: "!", skipped: "–" };
(async () => {
  const data = await load("/kto/api/tests");
  if (!data) return;
  const parts = [el("h1", data.name ?? "No results of this test in history")];
  const rates = el("p", undefined, "rates");
  rates.append(...data.passRates.map((r) => el("span", "pass rate " + r.days + " days: " + (r.rate === null ? "—" : Math.round(r.rate * 100) + "%") + " (" + r.passed + " of " + (r.passed + r.failing) + ")  ", "rate")));
  parts.push(rates);
  parts.push(el("p", "first failure: " + (data.firstFailure ? short(data.firstFailure.sha) + " " + when(data.firstFailure.finishedAt) : "never") +
    " · last pass: " + (data.lastPass ? short(data.lastPass.sha) + " " + when(data.lastPass.finishedAt) : "never"), "standing"));
  parts.push(el("h2", "Base branch, oldest to newest, with pull requests' results in time between"));
  // One column per result in time order: base-branch commits on the first row, pull requests' on the second.
  const cells = [...data.base.map((r) => ({ ...r, row: 0 })), ...data.pulls.map((r) => ({ ...r, row: 1 }))].sort((a, b) => a.finishedAt - b.finishedAt);
  const grid = el("table", undefined, "grid");
  for (const [row, label] of [[0, "base branch"], [1, "pull requests"]]) {
    const tr = el("tr");
    tr.append(el("th", label));
    for (const c of cells) {
      const td = el("td", c.row === row ? (SYMBOL[c.status] ?? "?") : "", "cell " + (c.row === row ? c.status : ""));
      if (c.row === row) { td.title = c.status + " at " + short(c.sha) + (c.number ? " (#" + c.number + ")" : "") + ", " + when(c.finishedAt); td.dataset.status = c.status; }
      tr.append(td);
    }
    grid.append(tr);
  }
  if (cells.length === 0) parts.push(el("p", "No results on the base branch yet.", "muted"));
  else parts.push(grid);
  main.replaceChildren(...parts);
})();
`,
);

export const COMPARE_HTML = page(
  "compare",
  `
(async () => {
  const data = await load("/kto/api/compare");
  if (!data) return;
  const parts = [el("h1", data.repo + " " + short(data.base) + " → " + short(data.head))];
  const regressions = data.jobs.reduce((n, j) => n + j.regressions, 0);
  parts.push(el("p", plural(data.jobs.length, "job") + " at both commits · " + plural(regressions, "regression"), "summary"));
  if (data.onlyBase.length) parts.push(el("p", "Only at " + short(data.base) + ": " + data.onlyBase.join(", "), "muted"));
  if (data.onlyHead.length) parts.push(el("p", "Only at " + short(data.head) + ": " + data.onlyHead.join(", "), "muted"));
  for (const job of data.jobs) {
    parts.push(el("h2", job.jobKey + (job.arch ? " · " + job.arch : ""), "job"));
    parts.push(classes(data.repo, job));
  }
  main.replaceChildren(...parts);
})();
`,
);

export const BISECTION_HTML = page(
  "bisection",
  `
/** A commit: its short id linked to the server's commit page (the API builds the URL), then its title and author as text. */
const commit = (c) => { const span = el("span", undefined, "commit"); span.append(link(c.url, short(c.sha))); if (c.title !== null) span.append(el("span", " " + c.title, "title")); if (c.author !== null) span.append(el("span", " by " + c.author, "muted author")); return span; };
const row = (cells) => { const tr = el("tr"); for (const c of cells) tr.append(c instanceof Node ? (() => { const td = el("td"); td.append(c); return td; })() : el("td", c)); return tr; };
const table = (head, rows, cls) => { const t = el("table", undefined, cls); const tr = el("tr"); for (const h of head) tr.append(el("th", h)); t.append(tr, ...rows); return t; };
function one(data) {
  const parts = [el("h1", data.repo + " · bisecting " + data.jobKey)];
  const range = el("p", undefined, "range");
  range.append(el("span", plural(data.commits, "commit") + " after "), commit(data.good), el("span", " (good) up to "), commit(data.bad), el("span", " (bad)"));
  parts.push(range);
  const status = el("p", undefined, "status");
  status.append(el("span", data.status, data.status), el("span", " · " + plural(data.steps.length, "step") + " of at most " + data.maxSteps + " · asked by " + data.startedBy + ", " + when(data.createdAt) + " · ", "muted"));
  if (data.checkRunUrl) status.append(link(data.checkRunUrl, "kto / bisect check run"));
  parts.push(status);
  parts.push(el("p", "suite " + data.suite + " · tests: " + data.tests.join(", "), "muted tests"));
  if (data.result && data.result.kind === "found") {
    const answer = el("div", undefined, "result");
    const first = el("p", undefined, "culprit");
    first.append(el("strong", "First bad commit: "), commit(data.result.culprit));
    answer.append(first, el("p", "Confidence: " + data.result.confidence.level + ": " + data.result.confidence.why, "confidence"));
    parts.push(answer);
  } else if (data.result && data.result.kind === "cancelled") {
    const answer = el("p", undefined, "result cancelled-by");
    answer.append(el("strong", "Cancelled" + (data.result.by ? " by " + data.result.by : "") + ": "),
      el("span", data.result.commits === 1 ? "the first bad commit is " : "the first bad commit is one of " + plural(data.result.commits, "commit") + ", from "), commit(data.result.first));
    if (data.result.commits > 1) answer.append(el("span", " up to "), commit(data.result.last));
    parts.push(answer);
  } else if (data.result) {
    const answer = el("div", undefined, "result");
    const list = el("ul", undefined, "candidates");
    for (const c of data.result.candidates) { const li = el("li"); li.append(commit(c)); list.append(li); }
    answer.append(el("p", "Inconclusive: the first bad commit is one of " + plural(data.result.candidates.length, "commit") + ":", "inconclusive"), list,
      el("p", "Confidence: " + data.result.confidence.level + ": " + data.result.confidence.why, "confidence"));
    parts.push(answer);
  }
  parts.push(el("h2", "Steps"));
  if (data.steps.length === 0) parts.push(el("p", "No step has begun.", "muted"));
  else parts.push(table(["step", "commit", "title", "author", "verdict", "what the run said", "job"], data.steps.map((s) =>
    row([String(s.step), link(s.commit.url, short(s.commit.sha)), s.commit.title ?? "", s.commit.author ?? "", el("span", s.verdict, s.verdict), s.note,
      s.checkRunUrl ? link(s.checkRunUrl, "check run") : el("span", "—", "muted")])), "steps"));
  const back = kto("/kto/bisections", { repo: data.repo });
  back.textContent = "all bisections of " + data.repo;
  const p = el("p");
  p.append(back);
  parts.push(p);
  return parts;
}
function list(data) {
  const parts = [el("h1", data.repo + " · bisections")];
  if (data.bisections.length === 0) { parts.push(el("p", "No bisections of this repository.", "muted")); return parts; }
  parts.push(table(["bisection", "job", "range", "status", "steps", "first bad commit", "asked"], data.bisections.map((b) => {
    const a = kto("/kto/bisections", { repo: data.repo, id: b.id });
    a.textContent = b.id;
    return row([a, b.jobKey, short(b.goodSha) + " … " + short(b.badSha), el("span", b.status, b.status), String(b.steps), b.culprit ? commit(b.culprit) : "—", b.startedBy + ", " + when(b.createdAt)]);
  }), "bisections"));
  return parts;
}
(async () => {
  const data = await load("/kto/api/bisections");
  if (!data) return;
  main.replaceChildren(...(data.kind === "list" ? list(data) : one(data)));
})();
`,
);
