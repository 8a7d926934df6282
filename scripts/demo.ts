/**
 * `npm run demo`: the whole kto system on this machine. The App runs as `kto app` on a
 * real port against a local GitHub API double; two runner hosts register through it and
 * run the bundled action on real Docker and QEMU. A signed pull_request.opened to a Linux
 * tree (Debian's linux-source) goes in: its kernel is built, booted to KUnit, and the
 * check runs come out as a person would read them on the pull request.
 */
import { access, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { demoConfig, demoWorkspace, SHARED_CCACHE } from "../test/helpers/demo-workspace.js";
import { KERNEL_SOURCE_TARBALL } from "../test/helpers/kernel-tree.js";
import { LocalSystem, LOCAL_REPO, PROJECT_ROOT, type CheckRunView } from "../test/helpers/local-system.js";

const SHA = "5c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b";
const OUT = join(process.cwd(), "kto-demo");
const KERNEL = "/var/lib/kto/kernel/vmlinuz";
const started = Date.now();
const say = (line: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);

async function preflight(): Promise<string[]> {
  const problems: string[] = [];
  if (
    !(await new Docker().ping().then(
      () => true,
      () => false,
    ))
  )
    problems.push("Docker is not reachable (start dockerd, or run bash self-hosted/provision.sh)");
  else if (
    !(await new Docker()
      .getImage("kto/busybox:1")
      .inspect()
      .then(
        () => true,
        () => false,
      ))
  )
    problems.push("the image kto/busybox:1 is missing (bash self-hosted/provision.sh builds it)");
  else if (
    !(await new Docker()
      .getImage("kto/builder:1")
      .inspect()
      .then(
        () => true,
        () => false,
      ))
  )
    problems.push("the builder image kto/builder:1 is missing (bash self-hosted/provision.sh builds it)");
  if (
    !(await access(KERNEL_SOURCE_TARBALL).then(
      () => true,
      () => false,
    ))
  )
    problems.push(`no kernel source at ${KERNEL_SOURCE_TARBALL} (bash scripts/setup.sh installs linux-source-6.1)`);
  if (
    !(await access(KERNEL).then(
      () => true,
      () => false,
    ))
  )
    problems.push(`no kernel at ${KERNEL} (bash self-hosted/provision.sh lays out Debian's)`);
  if (
    !(await access(join(PROJECT_ROOT, "dist", "index.js")).then(
      () => true,
      () => false,
    ))
  )
    problems.push("the action bundle dist/index.js is missing (npm run build:action)");
  return problems;
}

function describe(run: CheckRunView): string {
  const mark = run.status !== "completed" ? "…" : run.conclusion === "success" ? "✓" : run.conclusion === "failure" ? "✗" : "!";
  return `${mark} ${run.name}: ${run.status}${run.conclusion ? ` (${run.conclusion})` : ""} — ${run.output.title}`;
}

function asPersonSeesIt(runs: CheckRunView[]): string {
  const lines = ["# Checks on octo-org/linux#1", "", "| | check | conclusion | result |", "|---|---|---|---|"];
  for (const run of runs) lines.push(`| ${run.conclusion === "success" ? "✓" : "✗"} | ${run.name} | ${run.conclusion} | ${run.output.title} |`);
  for (const run of runs) {
    lines.push("", `## ${run.name}`, "", `Workflow run: ${run.details_url ?? "—"}`, "");
    for (const a of run.output.annotations ?? []) lines.push(`> **${a.path}:${a.start_line}** ${a.title}: ${a.message.split("\n")[0]}`, "");
    lines.push(run.output.summary);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The story the demo announces: the pull request's kernel builds and KUnit passes in it; one
 * more suite passes and two fail on purpose, each at the line its script names. A check that
 * fails for another reason (a compile error, a boot failure, a host that cannot run QEMU) is
 * the demo failing, however red it looks.
 */
const STORY: { name: string; conclusion: string; title: RegExp; annotation?: { path: string; line: number; message: RegExp } }[] = [
  { name: "kto / x86_64-kunit", conclusion: "success", title: /^succeeded/ },
  { name: "kto / kunit", conclusion: "success", title: /^no regressions · [1-9]\d* passed, 0 failed, 0 errored/ },
  {
    name: "kto / kunit-guest",
    conclusion: "failure",
    title: /^1 regression · 1 passed, 1 failed/,
    annotation: { path: "examples/tests/guest.sh", line: 16, message: /EXPECTATION FAILED at examples\/tests\/guest\.sh:16/ },
  },
  { name: "kto / smoke", conclusion: "success", title: /^no regressions · 2 passed, 0 failed/ },
  {
    name: "kto / userspace",
    conclusion: "failure",
    title: /^1 regression · 2 passed, 1 failed/,
    annotation: { path: "examples/tests/userspace.sh", line: 9, message: /expected 4, got 3/ },
  },
];

function storyProblems(runs: CheckRunView[]): string[] {
  const problems: string[] = [];
  for (const want of STORY) {
    const run = runs.find((r) => r.name === want.name);
    if (!run) {
      problems.push(`${want.name}: no check run`);
      continue;
    }
    if (run.conclusion !== want.conclusion || !want.title.test(run.output.title))
      problems.push(`${want.name}: ${run.conclusion} — ${run.output.title} (expected ${want.conclusion}, ${want.title.source})`);
    if (want.annotation) {
      const { path, line, message } = want.annotation;
      const found = (run.output.annotations ?? []).some((a) => a.path === path && a.start_line === line && message.test(`${a.title} ${a.message}`));
      if (!found) problems.push(`${want.name}: no annotation at ${path}:${line} matching ${message.source}`);
    }
  }
  return problems;
}

async function main(): Promise<number> {
  const problems = await preflight();
  if (problems.length) {
    process.stderr.write(`kto demo: cannot start:\n${problems.map((p) => `  - ${p}`).join("\n")}\n`);
    return 2;
  }
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  say("checking out the pull request: Debian's Linux 6.1 tree with kto's examples/ (extracted once, then linked)");
  const workspace = await demoWorkspace("demo");
  say(`starting the App, a GitHub API double and two runner hosts (files in ${OUT})`);
  const system = await LocalSystem.start({
    dir: OUT,
    hosts: [
      { name: "host-a", runners: 1 },
      { name: "host-b", runners: 1 },
    ],
    workspace: workspace.dir,
    // One compiler cache for the machine, as a runner host keeps one: a second demo, or one after the tests, builds warm.
    runnerEnv: { KTO_CCACHE_DIR: SHARED_CCACHE },
    log: say,
  });
  try {
    say(`dashboard: ${system.appUrl}/kto   status: ${system.appUrl}/kto/status`);
    const seen = new Map<number, string>();
    const watch = setInterval(() => {
      for (const run of system.checkRuns(SHA)) {
        const line = describe(run);
        if (seen.get(run.id) !== line) say(`check run ${line}`);
        seen.set(run.id, line);
      }
    }, 100);
    say("the kernel build takes a few minutes on two cores with a cold compiler cache, well under one warm");
    await system.openPullRequest(1, SHA, await demoConfig());
    const runs = await system.checkRunsCompleted(SHA, STORY.length, 1_800_000).finally(() => clearInterval(watch));
    runs.sort((a, b) => a.name.localeCompare(b.name));
    const report = asPersonSeesIt(runs);
    await writeFile(join(OUT, "check-runs.md"), report);

    process.stdout.write(`\nThe pull request's checks, as GitHub shows them (full text in ${join(OUT, "check-runs.md")}):\n\n`);
    for (const run of runs) {
      process.stdout.write(`  ${describe(run)}\n`);
      for (const a of run.output.annotations ?? []) process.stdout.write(`      ${a.path}:${a.start_line}  ${a.title}: ${a.message.split("\n")[0]}\n`);
      const link = /\[Download the logs and results\]\(([^)]+)\)/.exec(run.output.summary)?.[1];
      if (link) process.stdout.write(`      artifacts: ${link}\n`);
      const outputs = /\[Download the outputs\]\(([^)]+)\)/.exec(run.output.summary)?.[1];
      if (outputs) process.stdout.write(`      kernel, vmlinux, System.map, .config, build log: ${outputs}\n`);
    }
    const dispatched = system.github.state.dispatches.length;
    process.stdout.write(
      `\n${runs.length} jobs, ${dispatched} dispatches to ${LOCAL_REPO}'s runners, ${system.github.requests.length} GitHub API calls checked against GitHub's OpenAPI description, ${system.github.rejected.length} rejected.\n`,
    );
    if (system.github.rejected.length) process.stdout.write(`${system.github.rejected.join("\n")}\n`);
    const wrong = storyProblems(runs);
    const hung = await system.runsEnded();
    if (hung.length) wrong.push(`runs ${hung.join(", ")}: their action had not exited 30 s after the last check run completed`);
    const leaked = system.leakedRuns();
    if (leaked.length) wrong.push(`runs ${leaked.join(", ")}: something held the action open after its work was done (it said so, and left)`);
    if (wrong.length || system.github.rejected.length) {
      process.stderr.write(`kto demo: the checks do not tell the story it announces:\n${wrong.map((w) => `  - ${w}`).join("\n")}\n`);
      return 1;
    }
    return 0;
  } finally {
    await system.close();
    await workspace.remove();
  }
}

process.exitCode = await main();
