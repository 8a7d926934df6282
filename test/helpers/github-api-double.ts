import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { checkRequest, GHES_VERSIONS, type CheckedRequest } from "./github-double/shape.js";
import { appManifest, refusal, type Caller, type Permissions } from "./github-double/permissions.js";
import { inputsRefusal, SHIPPED_RUNNER_WORKFLOW } from "./github-double/workflow-inputs.js";

export { checkRequest, GHES_VERSIONS, type CheckedRequest };

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
  /** `owner/repo@ref` → commit sha. */
  refs: Map<string, string>;
  /** `owner/repo` or `org:name` → the App's installation id there; absent means not installed (404). */
  installations: Map<string, number>;
  /** Statuses the next requests of any kind answer with (a burst of 502s or 429s), one each. */
  outage: number[];
  /** How many requests the outage answered. */
  outageServed: number;
  /** What the App's installations may do: app.yml's default_permissions unless a test narrows them. */
  appPermissions: Permissions;
  /** Tokens GitHub would accept besides the App's (a workflow's GITHUB_TOKEN), and their permissions. */
  tokens: Map<string, Permissions>;
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

/**
 * A check run after a create or update: a conclusion completes it, and annotations are
 * appended to those it has, as GitHub does, where the other output fields are replaced.
 */
function withUpdate(run: Record<string, unknown>, body: Record<string, unknown>): Record<string, unknown> {
  const before = (run.output ?? {}) as { annotations?: unknown[] };
  const output = body.output as { annotations?: unknown[] } | undefined;
  Object.assign(run, body, body.conclusion ? { status: "completed" } : {});
  if (output) run.output = { ...before, ...output, annotations: [...(before.annotations ?? []), ...(output.annotations ?? [])] };
  return run;
}

const HANDLERS: Record<string, Handler> = {
  "checks/create": (request, state) => {
    const id = state.nextId++;
    const run = { id, status: "queued", html_url: `https://github.com/${request.params.owner}/${request.params.repo}/runs/${id}` };
    state.checkRuns.set(id, withUpdate(run, request.body));
    return { status: 201, body: run };
  },
  "checks/update": (request, state) => {
    const id = Number(request.params.check_run_id);
    const run = state.checkRuns.get(id);
    if (!run) return { status: 404, body: { message: "Not Found" } };
    // GitHub keeps a completed check run completed; the double refuses instead, so that a test sees it.
    const status = request.body.conclusion ? "completed" : request.body.status;
    if (run.status === "completed" && status !== undefined && status !== "completed") return { status: 422, body: { message: "a completed check run cannot be reopened: create a new check run" } };
    withUpdate(run, request.body);
    return { status: 200, body: run };
  },
  "apps/create-installation-access-token": (request, state) => {
    const token = `ghs_installation${request.params.installation_id}`;
    state.tokens.set(token, state.appPermissions);
    return { status: 201, body: { token, expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: state.appPermissions, repository_selection: "all" } };
  },
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
    const repo = `${request.params.owner}/${request.params.repo}`;
    const workflow = state.files.get(`${repo}@${String(request.body.ref)}:.github/workflows/${request.params.workflow_id}`) ?? SHIPPED_RUNNER_WORKFLOW;
    const refused = inputsRefusal(workflow, (request.body.inputs ?? {}) as Record<string, unknown>);
    if (refused) return { status: 422, body: { message: refused } };
    const runId = state.nextId++;
    state.dispatches.push({ repo, workflow: request.params.workflow_id!, ref: String(request.body.ref), inputs: request.body.inputs as Record<string, string>, runId });
    const lost = state.dispatchLostResponses.shift();
    if (lost) return { status: lost, body: { message: "Server Error" } };
    // Unasked (and on GHES, which has no return_run_details), no run details: a 204.
    if (!request.body.return_run_details) return { status: 204, body: null };
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

/** The App's JWT: three base64url parts, the first a JOSE header. */
function isJwt(credential: string): boolean {
  const [header, payload, signature, ...rest] = credential.split(".");
  if (!header || !payload || !signature || rest.length > 0) return false;
  try {
    return typeof (JSON.parse(Buffer.from(header, "base64url").toString()) as { alg?: unknown }).alg === "string";
  } catch {
    return false;
  }
}

/** Who an Authorization header speaks for, or null when GitHub would not know the credential. */
function callerOf(authorization: string, state: GitHubState): Caller | null {
  const credential = authorization.replace(/^(token|bearer)\s+/i, "");
  if (isJwt(credential)) return { kind: "app" };
  const permissions = state.tokens.get(credential);
  return permissions ? { kind: "installation", permissions } : null;
}

export interface GitHubApiDoubleOptions {
  /** The GitHub Enterprise Server version requests under /api/v3 are checked as (default: the oldest described). */
  ghesVersion?: string;
}

/** GitHub's REST API over real HTTP, stateful for the endpoints kto uses, strict about everything it is sent. */
export async function startGitHubApiDouble(options: GitHubApiDoubleOptions = {}): Promise<GitHubApiDouble> {
  const ghesVersion = options.ghesVersion ?? GHES_VERSIONS[0]!;
  const state: GitHubState = { checkRuns: new Map(), nextId: 1000, files: new Map(), runners: new Map(), dispatches: [], cancelled: [], dispatchFailures: [], dispatchLostResponses: [], pulls: new Map(), permissions: new Map(), refs: new Map(), installations: new Map(), outage: [], outageServed: 0, appPermissions: appManifest().default_permissions, tokens: new Map() };
  const rejected: string[] = [];
  const requests: CheckedRequest[] = [];
  const server = createServer((request, response) => {
    let text = "";
    request.on("data", (c: Buffer) => (text += c.toString()));
    request.on("end", () => {
      // GitHub Enterprise Server names its version on every response.
      const server = request.url?.startsWith("/api/v3/") ? { "x-github-enterprise-version": `${ghesVersion}.0` } : {};
      const send = (status: number, body: unknown) => response.writeHead(status, { "content-type": "application/json", ...server }).end(JSON.stringify(body));
      let checked: CheckedRequest;
      try {
        checked = checkRequest(request.method ?? "GET", request.url ?? "/", request.headers, text, ghesVersion);
      } catch (error) {
        const message = (error as Error).message;
        rejected.push(`${request.method} ${request.url}: ${message}`);
        return send(Number(message.slice(0, 3)) || 400, { message });
      }
      const caller = callerOf(request.headers.authorization!, state);
      if (!caller) {
        rejected.push(`${checked.method} ${checked.path}: 401: Bad credentials`);
        return send(401, { message: "Bad credentials" });
      }
      const refused = refusal(checked.operationId, caller);
      if (refused) {
        rejected.push(`${checked.method} ${checked.path}: ${refused.status}: ${checked.operationId}: ${refused.message}`);
        return send(refused.status, { message: refused.message });
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
      // A request GitHub finds invalid for the state it is in: as much a contract break as a malformed one.
      if (status === 422) rejected.push(`${checked.method} ${checked.path}: 422: ${(body as { message?: string }).message}`);
      if (body === null) return response.writeHead(status, server).end();
      send(status, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, state, rejected, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
