import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import { startApp, WEBHOOKS_PATH } from "../src/app/server.js";
import { KTO_BUDGET } from "../src/app/github/github-limits.js";
import { openStore } from "../src/orchestrator/store/open-store.js";
import { doubleAppSettings } from "../test/helpers/app-settings.js";
import { startGitHubApiDouble, type CheckedRequest } from "../test/helpers/github-api-double.js";
import { createsContent, GITHUB_LIMITS, pointsOf } from "../test/helpers/github-double/limits.js";
import { startOidcIssuer } from "../test/helpers/oidc-issuer.js";
import { RegisteringRunners } from "../test/helpers/registering-runners.js";
import { example } from "../test/helpers/webhook-examples.js";

// What one installation spends on GitHub per job, on the github.com path, with GitHub's
// limits enforced by the double and kto's budget on: requests counted by kind as the double
// received them, and the jobs an hour GitHub's limits then allow. Writes are not spaced a
// second apart here (that would make the run take minutes per design); their cost is
// computed from the writes per job instead.

const REPO = "Codertocat/Hello-World";
const INSTALLATION = 1;
const SUITES = 5;
const MATRIX = 8;
const PUSHES = Number(process.env.KTO_BENCH_GITHUB_PUSHES ?? 1);
const RUNNERS = 10;
const SECRET = "bench-secret";
const REGISTRATION_SECRET = randomBytes(24).toString("hex");

/** A plan of SUITES suites of MATRIX jobs each; `checkRun` is what each suite asks for. */
function configOf(checkRun: "job" | "suite"): string {
  const values = Array.from({ length: MATRIX }, (_, i) => `v${i}`).join(", ");
  const suites = Array.from(
    { length: SUITES },
    (_, k) =>
      `  - { name: s${k}, runner: docker, image: kto/busybox:1, command: "true", check_run: ${checkRun}, matrix: { n: [${values}] }, hardware: { labels: [x86_64] } }\n`,
  );
  return `version: 1\nsuites:\n${suites.join("")}`;
}

/** What a design is: each suite's check runs, how many jobs a dispatch may carry, how long the queue gathers them, and how runners register. */
export interface Design {
  name: string;
  checkRun: "job" | "suite";
  /** KTO_DISPATCH_BATCH. */
  batch: number;
  /** KTO_DISPATCH_GATHER_SECONDS. */
  gatherSeconds: number;
  registration: "token" | "jit";
}

/** kto as shipped: per-suite check runs where a suite asks for them, runs of up to 256 jobs, a 3 s gather, registration tokens. */
export const CONFIGURED: Design = { name: "as configured", checkRun: "suite", batch: 256, gatherSeconds: 3, registration: "token" };
/** As configured, for suites that keep a check run per job (`check_run: job`, the default). */
export const CONFIGURED_JOB_CHECK_RUNS: Design = { ...CONFIGURED, name: "as configured, a check run per job", checkRun: "job" };
/** kto before: a check run, a dispatch and a just-in-time registration per job. */
export const PER_JOB: Design = { name: "a check run, dispatch and registration per job", checkRun: "job", batch: 1, gatherSeconds: 0, registration: "jit" };

/** The request kinds the table counts, by the operation the double checked each against. */
const KINDS: [string, (r: CheckedRequest) => boolean][] = [
  ["check run creates", (r) => r.operationId === "checks/create"],
  ["dispatches", (r) => r.operationId === "actions/create-workflow-dispatch"],
  ["registrations", (r) => r.operationId.startsWith("actions/generate-runner-jitconfig") || r.operationId.startsWith("actions/create-registration-token")],
  ["the App's own (its JWT: installation lookups, tokens)", (r) => r.operationId.startsWith("apps/")],
  ["other content-creating POST/PUT", (r) => createsContent(r.operationId)],
  ["check run updates (PATCH)", (r) => r.operationId === "checks/update"],
  ["other writes", (r) => r.method !== "GET"],
  ["reads", () => true],
];

export interface DesignFigures {
  design: Design;
  jobs: number;
  /** Requests per job, by kind (KINDS), the installation's and the App's own together. */
  perKind: Map<string, number>;
  contentPerJob: number;
  pointsPerJob: number;
  requestsPerJob: number;
  writesPerJob: number;
  /** The jobs an hour each limit allows, and the least of them. */
  ceilings: { content: number; points: number; primary: number; spacing: number };
  jobsPerHour: number;
  limitAnswers: number;
  whileAskedToWait: number;
}

function kindOf(request: CheckedRequest): string {
  return KINDS.find(([, matches]) => matches(request))![0];
}

async function deliver(appUrl: string, event: string, payload: unknown, id = randomBytes(8).toString("hex")): Promise<number> {
  const body = JSON.stringify(payload);
  const response = await fetch(`${appUrl}${WEBHOOKS_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": event, "x-github-delivery": id, "x-hub-signature-256": await sign(SECRET, body) },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

/** One design: PUSHES pull requests of the plan, run to the end by RUNNERS ephemeral runners that register again after each job. */
export async function measureDesign(design: Design, progress: (line: string) => void): Promise<DesignFigures> {
  const dir = await mkdtemp(join(tmpdir(), "kto-bench-github-"));
  const github = await startGitHubApiDouble({ limits: true });
  const issuer = await startOidcIssuer();
  const store = await openStore({ dataDir: dir, databaseUrl: "" });
  const publicUrl = "https://kto.example.com";
  const previous = process.env.KTO_RUNNER_REPOSITORIES;
  // The registration route reads where it may register runners from the environment at each registration.
  process.env.KTO_RUNNER_REPOSITORIES = REPO;
  const settings = doubleAppSettings(
    github.url,
    {
      WEBHOOK_SECRET: SECRET,
      KTO_PUBLIC_URL: publicUrl,
      KTO_OIDC_ISSUER: issuer.url,
      KTO_OIDC_JWKS_URL: issuer.jwksUrl,
      KTO_RUNNER_REGISTRATION_SECRET: REGISTRATION_SECRET,
      KTO_DISPATCH_BATCH: design.batch,
      KTO_DISPATCH_GATHER_SECONDS: design.gatherSeconds,
    },
    "github.com",
  );
  const app = await startApp(settings, { store, logLevel: "fatal", throttle: false, budget: true, orchestrator: { pollMs: 200, outboxPollMs: 100 } });
  github.state.installations.set(REPO, INSTALLATION);
  const runners = new RegisteringRunners({
    github,
    issuer,
    repo: REPO,
    installationId: INSTALLATION,
    appUrl: app.url,
    audience: publicUrl,
    registrationSecret: REGISTRATION_SECRET,
    slots: RUNNERS,
    registration: design.registration,
    labels: ["x86_64"],
    runMs: 50,
    // One job of each suite's first push fails: a failed suite's check run carries annotations.
    status: (name) => (name.endsWith("(n=v0)") ? "failed" : "succeeded"),
    webhook: (event, payload, id) => deliver(app.url, event, payload, id),
  });
  const jobs = PUSHES * SUITES * MATRIX;
  try {
    runners.start();
    for (let pr = 1; pr <= PUSHES; pr++) {
      const sha = `${design.checkRun === "suite" ? "c" : "d"}${pr.toString(16).padStart(39, "0")}`;
      github.state.files.set(`${REPO}@${sha}:.github/kto.yml`, configOf(design.checkRun));
      github.state.pulls.set(`${REPO}#${pr}`, { number: pr, head: { sha, repo: { full_name: REPO } }, base: { ref: "master" }, author_association: "OWNER" });
      const payload = example("pull_request", "opened") as { number: number; pull_request: { number: number; head: { sha: string } } };
      payload.number = payload.pull_request.number = pr;
      payload.pull_request.head.sha = sha;
      const status = await deliver(app.url, "pull_request", payload);
      if (status !== 200) throw new Error(`the pull request's webhook answered ${status}`);
    }
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const all = await store.jobs.list();
      const ended = all.filter((j) => ["succeeded", "failed"].includes(j.state)).length;
      const settled = (await store.outbox.outboxPending()) === 0;
      if (all.length === jobs && ended === jobs && settled) break;
      if (Date.now() > deadline) throw new Error(`${design.name}: only ${ended} of ${jobs} jobs ended; runners: ${runners.failures.slice(0, 3).join("; ")}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    progress(
      `github: ${design.name}: ${jobs} jobs ended after ${github.requests.length} requests; registrations refused: ${runners.failures.length} (${runners.failures.slice(0, 2).join("; ")})`,
    );
  } finally {
    await runners.stop();
    await app.close();
    await store.close();
    await issuer.close();
    await github.close();
    if (previous === undefined) delete process.env.KTO_RUNNER_REPOSITORIES;
    else process.env.KTO_RUNNER_REPOSITORIES = previous;
    await rm(dir, { recursive: true, force: true });
  }
  const counts = new Map(KINDS.map(([kind]) => [kind, 0]));
  for (const request of github.requests) counts.set(kindOf(request), counts.get(kindOf(request))! + 1);
  // The installation's requests: the App's own (its JWT) have limits of their own.
  const installation = github.requests.filter((r) => !r.operationId.startsWith("apps/"));
  const content = installation.filter((r) => createsContent(r.operationId)).length / jobs;
  const points = installation.reduce((sum, r) => sum + pointsOf(r.method), 0) / jobs;
  const requests = installation.length / jobs;
  const writes = installation.filter((r) => r.method !== "GET").length / jobs;
  const ceilings = {
    content: KTO_BUDGET.contentPerHour / content,
    points: (KTO_BUDGET.pointsPerMinute * 60) / points,
    primary: GITHUB_LIMITS.perHour / requests,
    spacing: 3_600 / writes,
  };
  const stats = github.limiter!.stats;
  return {
    design,
    jobs,
    perKind: new Map([...counts].map(([kind, n]) => [kind, n / jobs])),
    contentPerJob: content,
    pointsPerJob: points,
    requestsPerJob: requests,
    writesPerJob: writes,
    ceilings,
    jobsPerHour: Math.floor(Math.min(...Object.values(ceilings))),
    limitAnswers: Object.entries(stats.limited)
      .filter(([limit]) => limit === "primary" || limit === "secondary")
      .reduce((sum, [, n]) => sum + n, 0),
    whileAskedToWait: stats.whileAskedToWait,
  };
}

/** kto as configured (with per-suite and per-job check runs) beside the per-job baseline, measured alike in one process. */
export async function githubSpendBenchmark(progress: (line: string) => void): Promise<string> {
  const configured = await measureDesign(CONFIGURED, progress);
  const jobChecks = await measureDesign(CONFIGURED_JOB_CHECK_RUNS, progress);
  const today = await measureDesign(PER_JOB, progress);
  const f = (n: number) => n.toFixed(2);
  const ratio = (a: number, b: number) => (b === 0 ? "—" : f(a / b));
  const row = (what: string, pick: (d: DesignFigures) => number, digits = f) =>
    `| ${what} | ${digits(pick(configured))} | ${digits(pick(jobChecks))} | ${digits(pick(today))} | ${ratio(pick(configured), pick(today))} |`;
  const whole = (n: number) => Math.floor(n).toLocaleString("en");
  return [
    `## GitHub spend per job (github.com path, GitHub's limits enforced by the double, kto's budget on)`,
    "",
    `${PUSHES} push${PUSHES === 1 ? "" : "es"} of a ${SUITES * MATRIX}-job plan (${SUITES} suites × ${MATRIX} matrix jobs), ${RUNNERS} ephemeral runners registering through the App again after each job; one job of each suite fails.`,
    `As configured: KTO_DISPATCH_BATCH=${CONFIGURED.batch}, KTO_DISPATCH_GATHER_SECONDS=${CONFIGURED.gatherSeconds}, registration tokens, with \`check_run: suite\` and with \`check_run: job\`. Baseline: \`check_run: job\`, KTO_DISPATCH_BATCH=1, no gather, KTO_RUNNER_REGISTRATION=jit. The ratio is the first column's to the baseline's.`,
    "",
    `| per job | ${configured.design.name} | ${jobChecks.design.name} | ${today.design.name} | ratio |`,
    "|---|---|---|---|---|",
    `| **jobs per hour per installation within GitHub's limits** | ${whole(configured.jobsPerHour)} | ${whole(jobChecks.jobsPerHour)} | ${whole(today.jobsPerHour)} | ${ratio(configured.jobsPerHour, today.jobsPerHour)} |`,
    ...[...configured.perKind.keys()].map((kind) => row(kind, (d) => d.perKind.get(kind)!)),
    row("content-creating requests (kto's 450 an hour)", (d) => d.contentPerJob),
    row("points (kto's 810 a minute)", (d) => d.pointsPerJob),
    row("installation requests (5,000 an hour)", (d) => d.requestsPerJob),
    row("writes (a second apart)", (d) => d.writesPerJob),
    row("ceiling by content creation (jobs/h)", (d) => d.ceilings.content, whole),
    row("ceiling by points (jobs/h)", (d) => d.ceilings.points, whole),
    row("ceiling by the primary limit (jobs/h)", (d) => d.ceilings.primary, whole),
    row("ceiling by writes a second apart (jobs/h)", (d) => d.ceilings.spacing, whole),
    `| limit answers | ${configured.limitAnswers} | ${jobChecks.limitAnswers} | ${today.limitAnswers} | — |`,
    `| requests while asked to wait | ${configured.whileAskedToWait} | ${jobChecks.whileAskedToWait} | ${today.whileAskedToWait} | — |`,
    "",
  ].join("\n");
}
