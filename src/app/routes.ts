import type { IncomingMessage, ServerResponse } from "node:http";
import client from "prom-client";
import { z } from "zod";
import type { OrchestratorService } from "../orchestrator/service.js";
import { jobReportSchema } from "./job-report-schema.js";
import { DASHBOARD_HTML } from "./dashboard-page.js";
import { dashboardData } from "./dashboard.js";
import { UnauthorizedError, type ActionsClaims } from "./oidc.js";
import { RegistrationError, registrationSchema, registrationSecretMatches, type Registration, type RegistrationRequest } from "./runner-registration.js";

const eventSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("started"), attempt: z.number().int().min(1), runId: z.string().optional() }),
  z.object({ kind: z.literal("heartbeat"), attempt: z.number().int().min(1) }),
  z.object({
    kind: z.literal("finished"),
    attempt: z.number().int().min(1),
    status: z.enum(["succeeded", "failed", "timed_out", "cancelled", "errored"]),
    outcome: z.string().optional(),
    reason: z.string().optional(),
    infrastructure: z.boolean().optional(),
    result: jobReportSchema.optional(),
  }),
]);

export interface RoutesDeps {
  service: OrchestratorService;
  verify: (token: string) => Promise<ActionsClaims>;
  pollMs: number;
  now?: () => number;
  /** Serve the dashboard (/kto and /kto/api/dashboard). */
  dashboard?: boolean;
  /** Where links to repositories, check runs and workflow runs point (https://github.com, or GHES). */
  serverUrl?: string;
  /** Just-in-time runner registration; absent when no registration secret is set. */
  registration?: { secret: string; register: (request: RegistrationRequest) => Promise<Registration> };
}

function send(response: ServerResponse, status: number, body: unknown, type = "application/json"): void {
  response.writeHead(status, { "content-type": type });
  response.end(type === "application/json" ? JSON.stringify(body) : String(body));
}

async function readBody(request: IncomingMessage, limit = 5 * 1024 * 1024): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error("body too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
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
        const health = await service.health();
        const ticking = health.lastTickAt !== null && now() - health.lastTickAt < deps.pollMs * 3 + 5_000;
        const github = health.deliveryFailuresInARow >= 3 ? "failing" : "ok";
        const ready = health.status === "running" && (ticking || !health.leader) && github === "ok";
        send(response, ready ? 200 : 503, { ...health, store: "ok", monitorTicking: ticking, github, ready });
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
        await handleReport(decodeURIComponent(events[1]!), request, response);
        return true;
      }
      return false;
    } catch (error) {
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
    let body: unknown;
    try {
      body = JSON.parse((await readBody(request, 64 * 1024)) || "{}");
    } catch {
      return send(response, 400, { message: "the body is not JSON" });
    }
    const parsed = registrationSchema.safeParse(body);
    if (!parsed.success) return send(response, 400, { message: parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ") });
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
    // The token must come from the very run this attempt was dispatched as.
    if (!job || !plan || plan.repo !== claims.repository || (job.runId !== null && /^\d+$/.test(job.runId) && job.runId !== claims.run_id)) {
      reports.inc({ result: "unauthorized" });
      return send(response, 401, { message: "the token's repository and run do not match this job" });
    }
    const parsed = eventSchema.safeParse(JSON.parse((await readBody(request)) || "{}"));
    if (!parsed.success) return send(response, 400, { message: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") });
    const { attempt, ...report } = parsed.data;
    // Where the dispatch API gave no run id (older GHES answers 204), the run that reports
    // first with a valid token for this repository is bound to the attempt.
    if (report.kind === "started") report.runId = claims.run_id;
    const after = await service.report(jobId, attempt, report);
    reports.inc({ result: after ? "applied" : "ignored" });
    send(response, 200, { state: after?.state ?? job.state, applied: after !== null });
  }
}
