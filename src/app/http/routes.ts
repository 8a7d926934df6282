import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../orchestrator/logger.js";
import type { OrchestratorService } from "../../orchestrator/service.js";
import { DASHBOARD_HTML } from "./dashboard-page.js";
import { dashboardData } from "./dashboard.js";
import { activityData } from "./dashboard-activity.js";
import { compareData, pullData, testData } from "./dashboard-history.js";
import { ASSET_PATHS, serveAsset } from "./assets-route.js";
import { bisectionData, bisectionListData, type BisectionReads } from "./dashboard-bisections.js";
import { BISECTION_HTML, COMPARE_HTML, PULL_HTML, TEST_HTML } from "./history-pages.js";
import { activityParams, bisectionParams, compareParams, NotFoundError, pullParams, QueryParamsError, readParams, testParams } from "./history-params.js";
import type { FindRun } from "../github/github-dispatcher.js";
import { serveHealth } from "./health-route.js";
import { send } from "./http-json.js";
import { ktoMetrics, type KtoMetrics } from "./metrics.js";
import type { ActionsClaims } from "./oidc.js";
import { mayRead, refuseRead } from "./read-access.js";
import { serveRegistration, type RegistrationDeps } from "./registration-route.js";
import { serveRunEvents } from "./run-events-route.js";
import { BodyRefusedError, refuseBody, type BodyIntake } from "./request-body.js";
import type { ReadAccess } from "../settings.js";
import type { ResultHistory } from "../../orchestrator/store/result-history.js";

/** The orchestrator as kto's routes have it: its health and state to read, and the runners' reports to take. */
export type RoutesService = Pick<OrchestratorService, "effectTotals" | "health" | "reads" | "status" | "recordRunId" | "recordRunEvent">;

export interface RoutesDeps {
  service: RoutesService;
  /** Test results across commits: written by runners' reports, read by the dashboard. */
  history: ResultHistory;
  /** Bisections asked for from check runs, read by the dashboard's bisection page. */
  bisections: BisectionReads;
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
  rateLimited?: () => Promise<number>;
  /** How many runners kto gives no job because of their labels. */
  refusedRunners?: () => number;
  /** Runner registration (just in time, or with a registration token); absent when no registration secret is set. */
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

/** One of kto's routes: whether it answers a request, and its answer. */
interface Route {
  matches(request: IncomingMessage, url: URL): boolean;
  handle(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> | void;
}

const isGet =
  (...paths: string[]) =>
  (request: IncomingMessage, url: URL) =>
    request.method === "GET" && paths.includes(url.pathname);
const isPost = (path: string | RegExp) => (request: IncomingMessage, url: URL) =>
  request.method === "POST" && (typeof path === "string" ? url.pathname === path : path.test(url.pathname));

const JOB_EVENTS = /^\/kto\/api\/jobs\/([^/]+)\/events$/;

/** The routes in the order they are asked: the first that matches a request answers it. */
function routeList(deps: RoutesDeps, metrics: KtoMetrics, now: () => number): Route[] {
  const { service } = deps;
  const reportDeps = { ...deps, now, reports: metrics.reports };
  const serverUrl = deps.serverUrl ?? "https://github.com";
  const html = (page: string, csp: string) => (_request: IncomingMessage, response: ServerResponse) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": csp });
    response.end(page);
  };
  const PAGE_CSP = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'";
  const pages: [string, string][] = [
    ["/kto/pulls", PULL_HTML],
    ["/kto/tests", TEST_HTML],
    ["/kto/compare", COMPARE_HTML],
    ["/kto/bisections", BISECTION_HTML],
  ];
  const api = (path: string, answer: (url: URL) => Promise<unknown>): Route => ({
    matches: isGet(path),
    handle: async (_request, response, url) => {
      let body: unknown;
      try {
        body = await answer(url);
      } catch (error) {
        if (error instanceof QueryParamsError) return send(response, 400, { message: error.message });
        if (error instanceof NotFoundError) return send(response, 404, { message: error.message });
        throw error;
      }
      send(response, 200, body);
    },
  });
  const dashboardPaths = [
    "/kto",
    "/kto/",
    "/kto/api/dashboard",
    "/kto/api/activity",
    "/kto/api/pulls",
    "/kto/api/tests",
    "/kto/api/compare",
    "/kto/api/bisections",
    ...pages.map(([path]) => path),
    ...ASSET_PATHS,
  ];
  const dashboard: Route[] =
    deps.dashboard === false
      ? [
          {
            matches: isGet(...dashboardPaths),
            handle: (_request, response) => send(response, 404, { message: "the dashboard is off (KTO_DASHBOARD=off)" }),
          },
        ]
      : [
          // The main page loads uPlot from /kto/assets/, so its scripts and styles may come from 'self'.
          {
            matches: isGet("/kto", "/kto/"),
            handle: html(DASHBOARD_HTML, "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"),
          },
          ...pages.map(([path, page]): Route => ({ matches: isGet(path), handle: html(page, PAGE_CSP) })),
          { matches: isGet(...ASSET_PATHS), handle: (_request, response, url) => serveAsset(url.pathname, response) },
          {
            matches: isGet("/kto/api/dashboard"),
            handle: async (_request, response) => send(response, 200, await dashboardData(service.reads, serverUrl, now())),
          },
          api("/kto/api/activity", (url) => activityData(service.reads, now(), readParams(activityParams, url).hours)),
          api("/kto/api/pulls", (url) => {
            const { repo, number } = readParams(pullParams, url);
            return pullData(deps.history, service.reads, serverUrl, repo, number);
          }),
          api("/kto/api/tests", (url) => {
            const { repo, key } = readParams(testParams, url);
            return testData(deps.history, repo, key, now());
          }),
          api("/kto/api/compare", (url) => {
            const { repo, base, head } = readParams(compareParams, url);
            return compareData(deps.history, repo, base, head);
          }),
          api("/kto/api/bisections", async (url) => {
            const { repo, id } = readParams(bisectionParams, url);
            if (id === undefined) return bisectionListData(deps.bisections, serverUrl, repo);
            const data = await bisectionData(deps.bisections, service.reads, serverUrl, repo, id);
            if (!data) throw new NotFoundError(`${repo} has no bisection ${id}`);
            return data;
          }),
        ];
  return [
    {
      matches: isGet("/kto/health"),
      handle: (_request, response) =>
        serveHealth(service, { pollMs: deps.pollMs, now, rateLimited: deps.rateLimited, refusedRunners: deps.refusedRunners, log: deps.log }, response),
    },
    // Everything but runners' and hosts' POSTs reads state, routes added later included.
    {
      matches: (request) => request.method !== "POST" && !mayRead(deps.readAccess, request),
      handle: (request, response) => refuseRead(deps.readAccess, request, response),
    },
    ...dashboard,
    { matches: isGet("/kto/status"), handle: async (_request, response) => send(response, 200, await service.status.snapshot()) },
    { matches: isGet("/kto/metrics"), handle: (_request, response) => metrics.serve(response) },
    ...(["jitconfig", "registration-token", "registered"] as const).map((route) => ({
      matches: isPost(`/kto/api/runners/${route}`),
      handle: (_request: unknown, response: ServerResponse) => serveRegistration(deps.registration, route, deps.intake, response),
    })),
    {
      matches: isPost(JOB_EVENTS),
      handle: async (request, response, url) => {
        let jobId: string;
        try {
          jobId = decodeURIComponent(JOB_EVENTS.exec(url.pathname)![1]!);
        } catch {
          return send(response, 400, { message: "the job id in the path is not properly percent-encoded" });
        }
        await serveRunEvents(reportDeps, jobId, request, response);
      },
    },
  ];
}

export function ktoRoutes(deps: RoutesDeps): KtoRoutes {
  const now = deps.now ?? Date.now;
  const metrics = ktoMetrics(deps.service, { now, rateLimited: deps.rateLimited });
  const { errors } = metrics;
  const routes = routeList(deps, metrics, now);

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    const url = new URL(request.url ?? "/", "http://kto");
    const route = routes.find((candidate) => candidate.matches(request, url));
    if (!route) return false;
    try {
      await route.handle(request, response, url);
    } catch (error) {
      if (error instanceof BodyRefusedError) {
        refuseBody(response, error);
        return true;
      }
      errors.inc({ route: url.pathname.startsWith("/kto/api/") ? "report" : url.pathname });
      send(response, 500, { message: (error as Error).message });
    }
    return true;
  };
  return Object.assign(handle, { countError: (route: string) => errors.inc({ route }) });
}
