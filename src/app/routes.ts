import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../orchestrator/logger.js";
import type { OrchestratorService } from "../orchestrator/service.js";
import { DASHBOARD_HTML } from "./dashboard-page.js";
import { dashboardData } from "./dashboard.js";
import type { FindRun } from "./github-dispatcher.js";
import { serveHealth } from "./health-route.js";
import { send } from "./http-json.js";
import { ktoMetrics } from "./metrics.js";
import type { ActionsClaims } from "./oidc.js";
import { refusedRead } from "./read-access.js";
import { serveRegistration, type RegistrationDeps } from "./registration-route.js";
import { serveReport } from "./report-route.js";
import { BodyRefusedError, refuseBody, type BodyIntake } from "./request-body.js";
import type { ReadAccess } from "./settings.js";

/** The orchestrator as kto's routes have it: its health and state to read, and the runners' reports to take. */
export type RoutesService = Pick<OrchestratorService, "deliveryTotals" | "health" | "reads" | "status" | "recordRunId" | "report">;

export interface RoutesDeps {
  service: RoutesService;
  /** Reads every body a route takes, within the App's body budget. */
  intake: BodyIntake;
  verify: (token: string) => Promise<ActionsClaims>;
  /** The runner workflow's file name in .github/workflows: only its runs report. */
  runnerWorkflow: string;
  findRun: FindRun;
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
  registration?: RegistrationDeps;
  /** Where a route says what failed that its answer does not name (Probot's logger). */
  log: Logger;
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
  const metrics = ktoMetrics(service, { now, rateLimited: deps.rateLimited });
  const { errors } = metrics;
  const reportDeps = { ...deps, reports: metrics.reports };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    const url = new URL(request.url ?? "/", "http://kto");
    try {
      if (request.method === "GET" && url.pathname === "/kto/health") {
        await serveHealth(service, { pollMs: deps.pollMs, now, rateLimited: deps.rateLimited, log: deps.log }, response);
        return true;
      }
      // Everything but runners' and hosts' POSTs reads state, routes added later included.
      if (request.method !== "POST" && refusedRead(deps.readAccess, request, response)) return true;
      if (deps.dashboard === false && request.method === "GET" && ["/kto", "/kto/", "/kto/api/dashboard"].includes(url.pathname)) {
        send(response, 404, { message: "the dashboard is off (KTO_DASHBOARD=off)" });
        return true;
      }
      if (request.method === "GET" && (url.pathname === "/kto" || url.pathname === "/kto/")) {
        response.writeHead(200, {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        });
        response.end(DASHBOARD_HTML);
        return true;
      }
      if (request.method === "GET" && url.pathname === "/kto/api/dashboard") {
        send(response, 200, await dashboardData(service.reads, deps.serverUrl ?? "https://github.com", now()));
        return true;
      }
      if (request.method === "GET" && url.pathname === "/kto/status") {
        send(response, 200, await service.status.snapshot());
        return true;
      }
      if (request.method === "GET" && url.pathname === "/kto/metrics") {
        await metrics.serve(response);
        return true;
      }
      if (request.method === "POST" && url.pathname === "/kto/api/runners/jitconfig") {
        await serveRegistration(deps.registration, deps.intake, response);
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
        await serveReport(reportDeps, jobId, request, response);
        return true;
      }
      return false;
    } catch (error) {
      if (error instanceof BodyRefusedError) {
        refuseBody(response, error);
        return true;
      }
      errors.inc({ route: url.pathname.startsWith("/kto/api/") ? "report" : url.pathname });
      send(response, 500, { message: (error as Error).message });
      return true;
    }
  };
  return Object.assign(handle, { countError: (route: string) => errors.inc({ route }) });
}
