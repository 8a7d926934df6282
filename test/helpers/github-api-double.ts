import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { createServer, type IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

type Spec = { paths: Record<string, Record<string, Operation>> };
interface Operation {
  operationId: string;
  parameters?: { name: string; in: string; required?: boolean; $ref?: string }[];
  requestBody?: { required?: boolean; content: Record<string, { schema: unknown }> };
}

const require = createRequire(import.meta.url);
let loaded: { spec: Spec; ajv: Ajv } | null = null;

/** GitHub's published REST description, once per process: the contract every request is checked against. */
function openapi(): { spec: Spec; ajv: Ajv } {
  if (loaded) return loaded;
  const spec = JSON.parse(readFileSync(require.resolve("@octokit/openapi/generated/api.github.com.json"), "utf8")) as Spec;
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  // GitHub's own format: owner/name.
  ajv.addFormat("repo.nwo", /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/);
  ajv.addSchema(spec as object, "github");
  loaded = { spec, ajv };
  return loaded;
}

function pointer(parts: string[]): string {
  return parts.map((p) => encodeURIComponent(p.replace(/~/g, "~0").replace(/\//g, "~1"))).join("/");
}

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  names: string[];
  operation: Operation;
  body?: ValidateFunction;
}

const routes = new Map<string, Route[]>();

function routesFor(method: string): Route[] {
  let list = routes.get(method);
  if (list) return list;
  const { spec } = openapi();
  list = [];
  for (const [template, item] of Object.entries(spec.paths)) {
    const operation = item[method];
    if (!operation) continue;
    const names: string[] = [];
    const pattern = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{([^}]+)\\?\}/g, (_, name: string) => (names.push(name), "([^/]+)"))}$`);
    list.push({ method, template, pattern, names, operation });
  }
  // Literal segments win over parameters, as a router would match them.
  list.sort((a, b) => b.template.replace(/\{[^}]+\}/g, "").length - a.template.replace(/\{[^}]+\}/g, "").length);
  routes.set(method, list);
  return list;
}

export interface CheckedRequest {
  operationId: string;
  method: string;
  path: string;
  url: string;
  params: Record<string, string>;
  body: Record<string, unknown>;
  /** When it arrived (performance.now()), for latency measurements. */
  at: number;
}

/** Matches a request to its operation and checks it as GitHub would; throws with the reason GitHub would give. */
export function checkRequest(method: string, url: string, headers: IncomingMessage["headers"], text: string): CheckedRequest {
  // GitHub Enterprise Server serves the same API under /api/v3.
  const path = new URL(url, "http://x").pathname.replace(/^\/api\/v3(?=\/)/, "");
  const route = routesFor(method.toLowerCase()).find((r) => r.pattern.test(path));
  if (!route) throw new Error(`404: no ${method} ${path} in GitHub's REST API`);
  if (!headers.authorization) throw new Error("401: requires authentication");
  const match = route.pattern.exec(path)!;
  const params = Object.fromEntries(route.names.map((name, i) => [name, decodeURIComponent(match[i + 1]!)]));
  const content = route.operation.requestBody?.content["application/json"];
  let body: Record<string, unknown> = {};
  if (text) {
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error("400: Problems parsing JSON");
    }
  }
  if (content) {
    route.body ??= openapi().ajv.compile({ $ref: `github#/${pointer(["paths", route.template, route.method, "requestBody", "content", "application/json", "schema"])}` });
    if (!route.body(body)) {
      const issues = (route.body.errors ?? []).map((e) => `${e.instancePath || "(body)"} ${e.message}`).join("; ");
      throw new Error(`422: ${route.operation.operationId}: ${issues}`);
    }
  } else if (route.operation.requestBody?.required) throw new Error(`422: ${route.operation.operationId} needs a body`);
  return { operationId: route.operation.operationId, method, path, url, params, body, at: performance.now() };
}

export type Handler = (request: CheckedRequest, state: GitHubState) => { status: number; body: unknown };

export interface Runner {
  id: number;
  name: string;
  os: string;
  status: "online" | "offline";
  busy: boolean;
  labels: { id: number; name: string; type: "read-only" | "custom" }[];
}

/** A collaborator's role, as GitHub names it in role_name. */
export type RepositoryRole = "admin" | "maintain" | "write" | "triage" | "read";

export interface GitHubState {
  checkRuns: Map<number, Record<string, unknown>>;
  nextId: number;
  /** `owner/repo@ref:path` → file text. */
  files: Map<string, string>;
  runners: Map<string, Runner[]>;
  dispatches: { repo: string; workflow: string; ref: string; inputs: Record<string, string>; runId: number }[];
  cancelled: number[];
  /** Statuses the next workflow dispatches answer with before one goes through (502, 429…). */
  dispatchFailures: number[];
  /** Statuses the next workflow dispatches answer with after starting the run anyway (a response lost on the way back). */
  dispatchLostResponses: number[];
  /** What `pulls.get` answers; kto's /kto commands read the base, the author, the labels and the head repository when a test sets them. */
  pulls: Map<string, { number: number; head: { sha: string; repo?: { full_name: string } | null }; base?: { ref: string }; author_association?: string; labels?: { name: string }[] }>;
  /**
   * `owner/repo` → user → their role there. Unlisted users can read (the repositories here are
   * public), and a user-owned repository's owner is its admin.
   */
  permissions: Map<string, Map<string, RepositoryRole>>;
  /** Answer workflow dispatches with 204 and no run details, as older servers do. */
  noRunDetails: boolean;
  /** `owner/repo@ref` → commit sha. */
  refs: Map<string, string>;
  opened: { repo: string; number: number; head: string; base: string; title: string; body: string }[];
  /** `owner/repo` or `org:name` → the App's installation id there; absent means not installed (404). */
  installations: Map<string, number>;
  /** Statuses the next requests of any kind answer with (a burst of 502s or 429s), one each. */
  outage: number[];
  /** How many requests the outage answered. */
  outageServed: number;
}

function jitconfig(request: CheckedRequest, state: GitHubState, scope: string): { status: number; body: unknown } {
  const runners = state.runners.get(scope) ?? [];
  if (runners.some((r) => r.name === request.body.name)) return { status: 409, body: { message: "Already exists - A runner with the name already exists." } };
  const id = state.nextId++;
  // GitHub adds the read-only default labels; a JIT runner is offline until its process connects.
  const labels = ["self-hosted", "Linux", "X64", ...(request.body.labels as string[])].map((name, i) => ({ id: i + 1, name, type: i < 3 ? ("read-only" as const) : ("custom" as const) }));
  const runner: Runner = { id, name: String(request.body.name), os: "Linux", status: "offline", busy: false, labels };
  state.runners.set(scope, [...runners, runner]);
  const encoded = Buffer.from(JSON.stringify({ ".runner": { agentId: id, agentName: runner.name, scope, workFolder: request.body.work_folder ?? "_work" } })).toString("base64");
  return { status: 201, body: { runner, encoded_jit_config: encoded } };
}

const HANDLERS: Record<string, Handler> = {
  "checks/create": (request, state) => {
    const id = state.nextId++;
    const run = { id, ...request.body, html_url: `https://github.com/${request.params.owner}/${request.params.repo}/runs/${id}` };
    state.checkRuns.set(id, run);
    return { status: 201, body: run };
  },
  "checks/update": (request, state) => {
    const id = Number(request.params.check_run_id);
    const run = state.checkRuns.get(id);
    if (!run) return { status: 404, body: { message: "Not Found" } };
    Object.assign(run, request.body);
    return { status: 200, body: run };
  },
  "apps/create-installation-access-token": (request) => ({
    status: 201,
    body: { token: `ghs_installation${request.params.installation_id}`, expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: { checks: "write", actions: "write", contents: "read" }, repository_selection: "all" },
  }),
  "repos/get-content": (request, state) => {
    const ref = new URL(request.url, "http://x").searchParams.get("ref") ?? "HEAD";
    const text = state.files.get(`${request.params.owner}/${request.params.repo}@${ref}:${request.params.path}`);
    if (text === undefined) return { status: 404, body: { message: "Not Found" } };
    return { status: 200, body: { type: "file", encoding: "base64", size: text.length, name: request.params.path!.split("/").pop(), path: request.params.path, content: Buffer.from(text).toString("base64"), sha: "0".repeat(40) } };
  },
  "actions/list-self-hosted-runners-for-repo": (request, state) => {
    const runners = state.runners.get(`${request.params.owner}/${request.params.repo}`) ?? [];
    return { status: 200, body: { total_count: runners.length, runners } };
  },
  "actions/list-self-hosted-runners-for-org": (request, state) => {
    const runners = state.runners.get(`org:${request.params.org}`);
    if (!runners) return { status: 404, body: { message: "Not Found" } };
    return { status: 200, body: { total_count: runners.length, runners } };
  },
  "actions/create-workflow-dispatch": (request, state) => {
    const failure = state.dispatchFailures.shift();
    if (failure) return { status: failure, body: { message: failure === 429 ? "API rate limit exceeded" : "Server Error" } };
    const runId = state.nextId++;
    const repo = `${request.params.owner}/${request.params.repo}`;
    state.dispatches.push({ repo, workflow: request.params.workflow_id!, ref: String(request.body.ref), inputs: request.body.inputs as Record<string, string>, runId });
    const lost = state.dispatchLostResponses.shift();
    if (lost) return { status: lost, body: { message: "Server Error" } };
    // Older servers ignore return_run_details and answer 204.
    if (state.noRunDetails || !request.body.return_run_details) return { status: 204, body: null };
    return { status: 200, body: { workflow_run_id: runId, run_url: `https://api.github.com/repos/${repo}/actions/runs/${runId}`, html_url: `https://github.com/${repo}/actions/runs/${runId}` } };
  },
  "actions/list-workflow-runs": (request, state) => {
    const repo = `${request.params.owner}/${request.params.repo}`;
    // The runner workflow's run-name: "kto <job> attempt <n>".
    const runs = state.dispatches
      .filter((d) => d.repo === repo && d.workflow === request.params.workflow_id)
      .map((d) => {
        const job = JSON.parse(d.inputs.job ?? "{}") as { id?: string; attempt?: number };
        return { id: d.runId, name: "kto runner", display_title: `kto ${job.id} attempt ${job.attempt}`, event: "workflow_dispatch", status: "queued" };
      })
      .reverse();
    return { status: 200, body: { total_count: runs.length, workflow_runs: runs } };
  },
  "actions/cancel-workflow-run": (request, state) => {
    state.cancelled.push(Number(request.params.run_id));
    return { status: 202, body: {} };
  },
  "repos/get-commit": (request, state) => {
    const sha = state.refs.get(`${request.params.owner}/${request.params.repo}@${request.params.ref}`) ?? (/^[0-9a-f]{40}$/.test(request.params.ref!) ? request.params.ref : undefined);
    return sha ? { status: 200, body: { sha } } : { status: 404, body: { message: "No commit found" } };
  },
  "repos/get": (request) => ({ status: 200, body: { id: 1, name: request.params.repo, full_name: `${request.params.owner}/${request.params.repo}`, default_branch: "master", owner: { login: request.params.owner } } }),
  "git/get-ref": (request, state) => {
    const sha = state.refs.get(`${request.params.owner}/${request.params.repo}@${request.params.ref!.replace(/^heads\//, "")}`);
    return sha ? { status: 200, body: { ref: `refs/${request.params.ref}`, object: { sha, type: "commit" } } } : { status: 404, body: { message: "Not Found" } };
  },
  "git/create-ref": (request, state) => {
    const key = `${request.params.owner}/${request.params.repo}@${String(request.body.ref).replace(/^refs\/heads\//, "")}`;
    if (state.refs.has(key)) return { status: 422, body: { message: "Reference already exists" } };
    state.refs.set(key, String(request.body.sha));
    return { status: 201, body: { ref: request.body.ref, object: { sha: request.body.sha, type: "commit" } } };
  },
  "repos/create-or-update-file-contents": (request, state) => {
    const key = `${request.params.owner}/${request.params.repo}@${request.body.branch}:${request.params.path}`;
    state.files.set(key, Buffer.from(String(request.body.content), "base64").toString("utf8"));
    return { status: 201, body: { content: { path: request.params.path }, commit: { sha: "c".repeat(40) } } };
  },
  "pulls/create": (request, state) => {
    const number = state.nextId++;
    state.opened.push({ repo: `${request.params.owner}/${request.params.repo}`, number, head: String(request.body.head), base: String(request.body.base), title: String(request.body.title), body: String(request.body.body ?? "") });
    return { status: 201, body: { number, html_url: `https://github.com/${request.params.owner}/${request.params.repo}/pull/${number}` } };
  },
  "pulls/get": (request, state) => {
    const pull = state.pulls.get(`${request.params.owner}/${request.params.repo}#${request.params.pull_number}`);
    return pull ? { status: 200, body: pull } : { status: 404, body: { message: "Not Found" } };
  },
  "apps/get-repo-installation": (request, state) => {
    const id = state.installations.get(`${request.params.owner}/${request.params.repo}`);
    return id ? { status: 200, body: { id, account: { login: request.params.owner }, app_id: 1, target_type: "Organization" } } : { status: 404, body: { message: "Not Found" } };
  },
  "apps/get-org-installation": (request, state) => {
    const id = state.installations.get(`org:${request.params.org}`);
    return id ? { status: 200, body: { id, account: { login: request.params.org }, app_id: 1, target_type: "Organization" } } : { status: 404, body: { message: "Not Found" } };
  },
  "actions/generate-runner-jitconfig-for-repo": (request, state) => jitconfig(request, state, `${request.params.owner}/${request.params.repo}`),
  "actions/generate-runner-jitconfig-for-org": (request, state) => jitconfig(request, state, `org:${request.params.org}`),
  "repos/get-collaborator-permission-level": (request, state) => {
    const { owner, repo, username } = request.params as { owner: string; repo: string; username: string };
    const role = state.permissions.get(`${owner}/${repo}`)?.get(username) ?? (username === owner ? "admin" : "read");
    // The legacy permission folds maintain into write and triage into read; role_name keeps the role.
    const permission = role === "maintain" ? "write" : role === "triage" ? "read" : role;
    const user = { login: username, id: 1, node_id: "U_1", type: "User", site_admin: false, role_name: role, permissions: { admin: role === "admin", maintain: role === "admin" || role === "maintain", push: permission !== "read", triage: role !== "read", pull: true } };
    return { status: 200, body: { permission, role_name: role, user } };
  },
  "checks/get": (request, state) => {
    const run = state.checkRuns.get(Number(request.params.check_run_id));
    return run ? { status: 200, body: run } : { status: 404, body: { message: "Not Found" } };
  },
};

export interface GitHubApiDouble {
  url: string;
  state: GitHubState;
  /** Requests the real API would have rejected (or that no handler here serves): a test fails on any. */
  rejected: string[];
  requests: CheckedRequest[];
  close(): Promise<void>;
}

/** GitHub's REST API over real HTTP, stateful for the endpoints kto uses, strict about everything it is sent. */
export async function startGitHubApiDouble(): Promise<GitHubApiDouble> {
  const state: GitHubState = { checkRuns: new Map(), nextId: 1000, files: new Map(), runners: new Map(), dispatches: [], cancelled: [], dispatchFailures: [], dispatchLostResponses: [], pulls: new Map(), permissions: new Map(), refs: new Map(), opened: [], noRunDetails: false, installations: new Map(), outage: [], outageServed: 0 };
  const rejected: string[] = [];
  const requests: CheckedRequest[] = [];
  const server = createServer((request, response) => {
    let text = "";
    request.on("data", (c: Buffer) => (text += c.toString()));
    request.on("end", () => {
      const send = (status: number, body: unknown) => response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      let checked: CheckedRequest;
      try {
        checked = checkRequest(request.method ?? "GET", request.url ?? "/", request.headers, text);
      } catch (error) {
        const message = (error as Error).message;
        rejected.push(`${request.method} ${request.url}: ${message}`);
        return send(Number(message.slice(0, 3)) || 400, { message });
      }
      requests.push(checked);
      const outage = state.outage.shift();
      if (outage) state.outageServed += 1;
      if (outage) return send(outage, { message: outage === 429 ? "API rate limit exceeded" : "Server Error" });
      const handler = HANDLERS[checked.operationId];
      if (!handler) {
        rejected.push(`${checked.method} ${checked.path}: the double does not serve ${checked.operationId}`);
        return send(501, { message: `not served: ${checked.operationId}` });
      }
      const { status, body } = handler(checked, state);
      if (body === null) return response.writeHead(status).end();
      send(status, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, state, rejected, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
