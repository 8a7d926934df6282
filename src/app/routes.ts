import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import client from "prom-client";
import { z } from "zod";
import { JOB_STATUSES } from "../config/job-spec.js";
import { ACTIVE_STATES, type JobState } from "../orchestrator/job-state.js";
import type { OrchestratorService } from "../orchestrator/service.js";
import type { JobRecord, PlanRecord } from "../orchestrator/store/store.js";
import { jobReportSchema } from "./job-report-schema.js";
import { DASHBOARD_HTML } from "./dashboard-page.js";
import { runnerRun } from "./github-dispatcher.js";
import { dashboardData } from "./dashboard.js";
import { notFromRunnerWorkflow, UnauthorizedError, type ActionsClaims } from "./oidc.js";
import { RegistrationError, registrationSchema, registrationSecretMatches, type Registration, type RegistrationRequest } from "./runner-registration.js";
import type { ReadAccess } from "./settings.js";

// No run id in `started` (zod drops the one the action sends): that is the run's word for itself, and the App binds runs itself.
const eventSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("started"), attempt: z.number().int().min(1) }),
  z.object({ kind: z.literal("heartbeat"), attempt: z.number().int().min(1) }),
  z.object({
    kind: z.literal("finished"),
    attempt: z.number().int().min(1),
    status: z.enum(JOB_STATUSES),
    outcome: z.string().optional(),
    reason: z.string().optional(),
    infrastructure: z.boolean().optional(),
    result: jobReportSchema.optional(),
  }),
]);

export interface RoutesDeps {
  service: OrchestratorService;
  verify: (token: string) => Promise<ActionsClaims>;
  /** The runner workflow's file name in .github/workflows: only its runs report. */
  runnerWorkflow: string;
  /**
   * The run GitHub started for a job's attempt, looked up by its run-name, or null while
   * GitHub does not list it: for jobs whose dispatch answered without a run id.
   */
  findRun: (job: JobRecord, plan: PlanRecord) => Promise<string | null>;
  /** Who may read the App's state: every route under /kto but /kto/health and the runners' and hosts' POSTs. */
  readAccess: ReadAccess;
  pollMs: number;
  now?: () => number;
  /** Serve the dashboard (/kto and /kto/api/dashboard). */
  dashboard?: boolean;
  /** Where links to repositories, check runs and workflow runs point (https://github.com, or GHES). */
  serverUrl?: string;
  /** Installations whose GitHub requests wait for a rate limit now. */
  rateLimited?: () => number;
  /** Just-in-time runner registration; absent when no registration secret is set. */
  registration?: { secret: string; register: (request: RegistrationRequest) => Promise<Registration> };
}

function send(response: ServerResponse, status: number, body: unknown, type = "application/json", headers: Record<string, string | string[]> = {}): void {
  response.writeHead(status, { ...headers, "content-type": type });
  response.end(type === "application/json" ? JSON.stringify(body) : String(body));
}

const MB = 1024 * 1024;

export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
  constructor(readonly limit: number) {
    super(`the body is larger than ${limit >= MB ? `${limit / MB} MB` : `${limit / 1024} KB`}, the most this route takes`);
  }
}

/** Answers 413 and drops the connection: the rest of the body is never read. */
export function refuseBody(response: ServerResponse, error: BodyTooLargeError): void {
  send(response, 413, { message: error.message }, "application/json", { connection: "close" });
}

/**
 * The body, if it is at most `limit` bytes: a larger Content-Length is refused before a
 * byte is read, and a body without one (chunked) is counted as it arrives and dropped
 * once it passes the limit, so a request holds at most `limit` bytes of memory.
 */
export function readBody(request: IncomingMessage, limit: number): Promise<string> {
  if (Number(request.headers["content-length"] ?? 0) > limit) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    let size = 0;
    let chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // Still flowing, to no one: the refusal can be sent while the client is mid-upload.
      request.off("data", onData);
      chunks = [];
      reject(new BodyTooLargeError(limit));
    };
    request.on("data", onData);
    request.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.once("error", reject);
    request.once("close", () => {
      chunks = [];
      if (!request.complete) reject(new Error("the client closed the connection before the body ended"));
    });
  });
}

/** zod's issues as one line, each naming its field (`(body)` for the body as a whole). */
function issuesOf(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text || "{}") };
  } catch (error) {
    return { ok: false, message: `the body is not JSON: ${(error as Error).message}` };
  }
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** The token a request presents: `Bearer <token>` (scrapers, scripts) or HTTP Basic with the token as the password (browsers). */
function presentedToken(authorization: string | undefined): string | null {
  const [scheme, value] = (authorization ?? "").split(" ", 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === "bearer") return value;
  if (scheme?.toLowerCase() !== "basic") return null;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/** Why this request may not read the App's state, or null when it may. */
function readRefusal(access: ReadAccess, request: IncomingMessage): string | null {
  if (access.kind === "public") return null;
  if (access.token === null) return "reading the App's state is off: set KTO_READ_TOKEN on the App (openssl rand -hex 32) and send it as Authorization: Bearer <token>, or set KTO_READ_ACCESS=public where the App is not reachable from outside";
  const given = presentedToken(request.headers.authorization);
  // Digests are of equal length, so the comparison takes the same time whatever is given.
  if (given !== null && timingSafeEqual(digest(given), digest(access.token))) return null;
  return "reading the App's state needs its read token (KTO_READ_TOKEN): send Authorization: Bearer <token>, or HTTP Basic with the token as the password";
}

/** kto's own HTTP routes beside Probot's webhooks: health, status, metrics and the runners' reports. */
export interface KtoRoutes {
  (request: IncomingMessage, response: ServerResponse): Promise<boolean>;
  /** Counts an error outside the routes (a webhook handler) in kto_errors_total. */
  countError(route: string): void;
}

export function ktoRoutes(deps: RoutesDeps): KtoRoutes {
  const { service } = deps;
  const now = deps.now ?? Date.now;
  const registry = new client.Registry();
  const jobs = new client.Gauge({ name: "kto_jobs", help: "Jobs by state", labelNames: ["state"], registers: [registry] });
  const capacity = new client.Gauge({ name: "kto_environment_slots", help: "Environment slots by state", labelNames: ["kind"], registers: [registry] });
  const reports = new client.Counter({ name: "kto_reports_total", help: "Reports received from runners", labelNames: ["result"], registers: [registry] });
  const errors = new client.Counter({ name: "kto_errors_total", help: "Errors handling requests and webhooks", labelNames: ["route"], registers: [registry] });
  const deliveryFailures = new client.Counter({ name: "kto_outbox_delivery_failures_total", help: "Side effects (GitHub calls) that failed and were retried", registers: [registry] });
  const pending = new client.Gauge({ name: "kto_outbox_pending", help: "Side effects not yet delivered", registers: [registry] });
  const backlog = new client.Gauge({ name: "kto_final_check_runs_pending", help: "Finished jobs whose last check run update has not landed yet", registers: [registry] });
  const backlogAge = new client.Gauge({ name: "kto_final_check_runs_oldest_seconds", help: "How long the oldest of those updates has waited (0 when none)", registers: [registry] });
  const limited = new client.Gauge({ name: "kto_github_rate_limited_installations", help: "Installations whose GitHub requests wait for a rate limit", registers: [registry] });
  const deferrals = new client.Counter({ name: "kto_outbox_deferrals_total", help: "Side effects put off because GitHub asked to wait (rate limits)", registers: [registry] });
  let countedDeferrals = 0;
  let countedFailures = 0;
  const histograms = {
    queueWaitMs: new client.Gauge({ name: "kto_queue_wait_ms_bucket", help: "Queue wait (ms), cumulative buckets", labelNames: ["le"], registers: [registry] }),
    startupMs: new client.Gauge({ name: "kto_startup_ms_bucket", help: "Dispatch to start (ms), cumulative buckets", labelNames: ["le"], registers: [registry] }),
    runMs: new client.Gauge({ name: "kto_run_ms_bucket", help: "Run time (ms), cumulative buckets", labelNames: ["le"], registers: [registry] }),
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    const url = new URL(request.url ?? "/", "http://kto");
    try {
      if (request.method === "GET" && url.pathname === "/kto/health") {
        // Public, for load balancers and probes: states and counts, never names or errors.
        const health = await service.health().catch(() => null);
        if (!health) {
          send(response, 503, { store: "failing", ready: false });
          return true;
        }
        const ticking = health.lastTickAt !== null && now() - health.lastTickAt < deps.pollMs * 3 + 5_000;
        const github = health.deliveryFailuresInARow >= 3 ? "failing" : "ok";
        const ready = health.status === "running" && (ticking || !health.leader) && github === "ok";
        // A rate limit is not unreadiness: the updates wait, are counted here, and land later.
        const finals = await service.store.finalReportBacklog();
        send(response, ready ? 200 : 503, {
          ...health,
          store: "ok",
          monitorTicking: ticking,
          github,
          githubRateLimited: deps.rateLimited?.() ?? 0,
          finalCheckRunsPending: finals.count,
          finalCheckRunsOldestMs: finals.oldestAt === null ? null : Math.max(0, now() - finals.oldestAt),
          ready,
        });
        return true;
      }
      // Everything but runners' and hosts' POSTs reads state, routes added later included.
      const refusal = request.method === "POST" ? null : readRefusal(deps.readAccess, request);
      if (refusal) {
        const challenges = deps.readAccess.kind === "token" && deps.readAccess.token ? ['Basic realm="kto", charset="UTF-8"', 'Bearer realm="kto"'] : ['Bearer realm="kto"'];
        send(response, 401, { message: refusal }, "application/json", { "www-authenticate": challenges });
        return true;
      }
      if (deps.dashboard === false && request.method === "GET" && ["/kto", "/kto/", "/kto/api/dashboard"].includes(url.pathname)) {
        send(response, 404, { message: "the dashboard is off (KTO_DASHBOARD=off)" });
        return true;
      }
      if (request.method === "GET" && (url.pathname === "/kto" || url.pathname === "/kto/")) {
        response.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'" });
        response.end(DASHBOARD_HTML);
        return true;
      }
      if (request.method === "GET" && url.pathname === "/kto/api/dashboard") {
        send(response, 200, await dashboardData(service.store, deps.serverUrl ?? "https://github.com", now()));
        return true;
      }
      if (request.method === "GET" && url.pathname === "/kto/status") {
        send(response, 200, await service.status.snapshot());
        return true;
      }
      if (request.method === "GET" && url.pathname === "/kto/metrics") {
        const snapshot = await service.status.snapshot();
        for (const [state, n] of Object.entries(snapshot.counts)) jobs.set({ state }, n);
        capacity.set({ kind: "total" }, snapshot.environments.reduce((sum, e) => sum + e.capacity, 0));
        capacity.set({ kind: "busy" }, snapshot.environments.reduce((sum, e) => sum + e.busy, 0));
        deliveryFailures.inc(service.outbox.totalFailures - countedFailures);
        countedFailures = service.outbox.totalFailures;
        pending.set((await service.health()).outboxPending);
        const finals = await service.store.finalReportBacklog();
        backlog.set(finals.count);
        backlogAge.set(finals.oldestAt === null ? 0 : Math.max(0, now() - finals.oldestAt) / 1000);
        limited.set(deps.rateLimited?.() ?? 0);
        deferrals.inc(service.outbox.totalDeferrals - countedDeferrals);
        countedDeferrals = service.outbox.totalDeferrals;
        const h = await service.status.histograms();
        for (const [key, gauge] of Object.entries(histograms)) for (const bucket of h[key as keyof typeof h].buckets) gauge.set({ le: String(bucket.le) }, bucket.count);
        send(response, 200, await registry.metrics(), registry.contentType);
        return true;
      }
      if (request.method === "POST" && url.pathname === "/kto/api/runners/jitconfig") {
        await handleRegistration(request, response);
        return true;
      }
      const events = /^\/kto\/api\/jobs\/([^/]+)\/events$/.exec(url.pathname);
      if (request.method === "POST" && events) {
        let jobId: string;
        try {
          jobId = decodeURIComponent(events[1]!);
        } catch {
          send(response, 400, { message: "the job id in the path is not properly percent-encoded" });
          return true;
        }
        await handleReport(jobId, request, response);
        return true;
      }
      return false;
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        refuseBody(response, error);
        return true;
      }
      errors.inc({ route: url.pathname.startsWith("/kto/api/") ? "report" : url.pathname });
      send(response, 500, { message: (error as Error).message });
      return true;
    }
  };
  return Object.assign(handle, { countError: (route: string) => errors.inc({ route }) });

  async function handleRegistration(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (!deps.registration) return send(response, 404, { message: "runner registration is off: set KTO_RUNNER_REGISTRATION_SECRET on the App" });
    const secret = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
    if (!secret || !registrationSecretMatches(deps.registration.secret, secret)) return send(response, 401, { message: "the runner registration secret is missing or wrong" });
    const body = parseJson(await readBody(request, 64 * 1024));
    if (!body.ok) return send(response, 400, { message: body.message });
    const parsed = registrationSchema.safeParse(body.value);
    if (!parsed.success) return send(response, 400, { message: issuesOf(parsed.error) });
    try {
      send(response, 201, await deps.registration.register(parsed.data));
    } catch (error) {
      if (!(error instanceof RegistrationError)) throw error;
      send(response, error.status, { message: error.message });
    }
  }

  async function handleReport(jobId: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
    if (!token) {
      reports.inc({ result: "unauthorized" });
      return send(response, 401, { message: "a GitHub Actions OIDC token is required" });
    }
    let claims: ActionsClaims;
    try {
      claims = await deps.verify(token);
    } catch (error) {
      reports.inc({ result: "unauthorized" });
      return send(response, 401, { message: error instanceof UnauthorizedError ? `invalid token: ${error.message}` : "invalid token" });
    }
    const job = await service.store.job(jobId);
    const plan = job ? await service.store.plan(job.planId) : null;
    const refuse = (message: string) => {
      reports.inc({ result: "unauthorized" });
      send(response, 401, { message });
    };
    if (!job || !plan?.repo) return refuse("the token's repository and run do not match this job");
    const foreign = notFromRunnerWorkflow(claims, { repository: plan.repo, workflowPath: `.github/workflows/${deps.runnerWorkflow}`, ref: `refs/heads/${runnerRun(plan, job).ref}` });
    if (foreign) return refuse(foreign);
    // The token must come from the very run this attempt was dispatched as, whether or not the App knows that run's id yet.
    let runId = job.runId !== null && /^\d+$/.test(job.runId) ? job.runId : null;
    if (runId === null) {
      if (!(ACTIVE_STATES as readonly JobState[]).includes(job.state)) return refuse(`job ${jobId} has no run dispatched (it is ${job.state})`);
      runId = await deps.findRun(job, plan);
      if (runId === null) {
        reports.inc({ result: "retry" });
        return send(response, 503, { message: `GitHub does not list the run of job ${jobId} attempt ${job.attempt} yet; retry` }, "application/json", { "retry-after": "5" });
      }
      await service.store.setRunId(job.id, job.attempt, runId);
    }
    if (runId !== claims.run_id) return refuse(`run ${claims.run_id} is not the run job ${jobId} attempt ${job.attempt} was dispatched as`);
    const body = parseJson(await readBody(request, 5 * MB));
    if (!body.ok) return send(response, 400, { message: body.message });
    const parsed = eventSchema.safeParse(body.value);
    if (!parsed.success) return send(response, 400, { message: issuesOf(parsed.error) });
    const { attempt, ...report } = parsed.data;
    const after = await service.report(jobId, attempt, report);
    reports.inc({ result: after ? "applied" : "ignored" });
    send(response, 200, { state: after?.state ?? job.state, applied: after !== null });
  }
}
