import { COMMIT_HANDLERS, type Commit } from "./github-double/commits.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { checkRequest, GHES_VERSIONS, type CheckedRequest } from "./github-double/shape.js";
import { CHECK_SUITE_HANDLERS, suiteOf } from "./github-double/check-suites.js";
import { RUNNER_GROUP_HANDLERS, type RunnerGroup } from "./github-double/runner-groups.js";
import { appManifest, refusal, type Caller, type Permissions } from "./github-double/permissions.js";
import { expandDispatch, inputsRefusal, SHIPPED_RUNNER_WORKFLOW } from "./github-double/workflow-inputs.js";
import { ARTIFACT_HANDLERS, type RunArtifact, type RunStatus } from "./github-double/artifacts.js";
import { HOOK_DELIVERY_HANDLERS, type HookDelivery, type WebhookTarget } from "./github-double/hook-deliveries.js";
import { REGISTRATION_TOKEN_HANDLERS, type RegistrationToken } from "./github-double/registration-tokens.js";
import { GITHUB_LIMITS, limitAnswer, RateLimiter, type Limit, type RateLimits } from "./github-double/limits.js";

export { checkRequest, GHES_VERSIONS, type CheckedRequest };

/** The jobs a dispatch request carries, as the matrix of the run it starts: their ids and attempts. */
export function jobsOfDispatch(request: Pick<CheckedRequest, "body">): { id: string; attempt: number }[] {
  const entries = JSON.parse(String((request.body.inputs as Record<string, string>).jobs ?? "[]")) as { job: { id: string; attempt: number } }[];
  return entries.map((entry) => entry.job);
}

export type Handler = (request: CheckedRequest, state: GitHubState) => { status: number; body: unknown; headers?: Record<string, string> };

/** The App's slug, as GET /app names it; its installations act as the user `kto[bot]`. */
export const APP_SLUG = "kto";
/** The App's id, as the settings of the Apps under test give it (APP_ID). */
export const APP_ID = 1;
export const APP_BOT = `${APP_SLUG}[bot]`;

export interface Runner {
  id: number;
  name: string;
  os: string;
  status: "online" | "offline";
  busy: boolean;
  labels: { id: number; name: string; type: "read-only" | "custom" }[];
  /** Takes one job and is gone (a just-in-time or --ephemeral runner). */
  ephemeral?: boolean;
  /** Its runner group; GitHub puts a runner in the Default group (1) unless it is registered in another. */
  runner_group_id?: number;
}

/** An online, idle self-hosted runner as GitHub lists it: `self-hosted`, `labels`, and its own `kto-runner-<name>` label. */
export function selfHostedRunner(id: number, name: string, labels: string[], group?: number): Runner {
  return {
    id,
    name,
    os: "linux",
    status: "online",
    busy: false,
    labels: ["self-hosted", ...labels, `kto-runner-${name}`].map((label, i) => ({ id: i + 1, name: label, type: "custom" as const })),
    ...(group === undefined ? {} : { runner_group_id: group }),
  };
}

export type { RunnerGroup };

/** A collaborator's role, as GitHub names it in role_name. */
export type RepositoryRole = "admin" | "maintain" | "write" | "triage" | "read";

export interface GitHubState {
  checkRuns: Map<number, Record<string, unknown>>;
  /** `owner/repo@sha#appId` → the id of that App's check suite on the commit. */
  checkSuites: Map<string, number>;
  /** How many check-suite listings a new check run is left out of: GitHub lists one only after a moment. */
  checkRunsUnlistedFor: number;
  /** Check run id → the listings it is still left out of. */
  unlistedCheckRuns: Map<number, number>;
  nextId: number;
  /** `owner/repo@ref:path` → file text. */
  files: Map<string, string>;
  runners: Map<string, Runner[]>;
  /** Organisation → its runner groups; an organisation with runners and none given has GitHub's Default group. */
  runnerGroups: Map<string, RunnerGroup[]>;
  /** Workflow runs started by a dispatch: the App's (its bot is the actor), or a test's stand-in for someone else's. */
  dispatches: {
    repo: string;
    workflow: string;
    ref: string;
    /** What this job of the run is given: the kto action's `job`, its `runs_on` (JSON), `sha` and `app_url`. */
    inputs: Record<string, string>;
    /** The run's id: a run of several matrix jobs has one entry here per job, all with its id. */
    runId: number;
    /** The run's name (`run-name`), as the runs listing shows it; absent, it is made from the job. */
    runName?: string;
    /** What GitHub lets the job take before it cancels it. */
    timeoutMinutes?: number;
    actor?: string;
    createdAt?: number;
    unlistedFor?: number;
  }[];
  /** How many run listings a new run is left out of: GitHub lists a dispatched run only after a moment. */
  unlistedFor: number;
  /** Called as a dispatch starts its run: a test's moment to make something else happen then (another run). */
  onDispatch?: (dispatch: GitHubState["dispatches"][number]) => void;
  /** operationId → what its next requests answer with, one each, as `outage` answers. */
  failures: Map<string, GitHubState["outage"]>;
  /** operationId → statuses its next requests answer with after doing what they ask (an answer lost on the way back). */
  lostAnswers: Map<string, number[]>;
  /**
   * GitHub refusing a check run's output that kto took to fit (a limit it does not document,
   * or one it changed): the next creates and updates that carry an output answer 422 with
   * these messages, one each, and change nothing.
   */
  outputRefusals: string[];
  cancelled: number[];
  /** Statuses the next workflow dispatches answer with before one goes through (502, 429…; a 429 as `outage` makes it). */
  dispatchFailures: number[];
  /** Statuses the next workflow dispatches answer with after starting the run anyway (a response lost on the way back). */
  dispatchLostResponses: number[];
  /** What `pulls.get` answers; kto's /kto commands read the base, the author, the labels and the head repository when a test sets them. */
  pulls: Map<
    string,
    {
      number: number;
      head: { sha: string; repo?: { full_name: string } | null };
      base?: { ref: string };
      author_association?: string;
      labels?: { name: string }[];
    }
  >;
  /**
   * `owner/repo` → user → their role there. Unlisted users can read (the repositories here are
   * public), and a user-owned repository's owner is its admin.
   */
  permissions: Map<string, Map<string, RepositoryRole>>;
  /** `owner/repo@ref` → commit sha. */
  refs: Map<string, string>;
  /** `owner/repo@sha` → the commit: the graph a baseline is looked for in. */
  commits: Map<string, Commit>;
  /** `owner/repo` or `org:name` → the App's installation id there; absent means not installed (404). */
  installations: Map<string, number>;
  /** Installations the App was removed from: GitHub answers 404 for them. */
  uninstalled: Set<number>;
  /**
   * Statuses the next requests of any kind answer with (a burst of 502s or 429s), one each.
   * A 429 is the primary limit running out a second before it resets, with GitHub's headers;
   * a limit names the answer exactly.
   */
  outage: (number | { limit: Limit; status?: 403 | 429; retryAfterS?: number; resetInS?: number })[];
  /** How many requests the outage answered. */
  outageServed: number;
  /** What the App's installations may do: app.yml's default_permissions unless a test narrows them. */
  appPermissions: Permissions;
  /** Tokens GitHub would accept besides the App's (a workflow's GITHUB_TOKEN), and their permissions. */
  tokens: Map<string, Permissions>;
  /** Workflow runs' artifacts, for a run that downloads another's. */
  artifacts: RunArtifact[];
  /** The state of runs a job reads (the run that made its build); a run absent here is 404. */
  runs: Map<number, RunStatus>;
  /** Every attempt at delivering a webhook to the App, as the App's delivery log lists them. */
  hookDeliveries: HookDelivery[];
  /** Where the App's webhooks go (a redelivery too); null until an App is started against the double. */
  webhookTarget: WebhookTarget | null;
  /** Runner registration tokens handed out, by token. */
  registrationTokens: Map<string, RegistrationToken>;
  /** The double's clock: what registration tokens expire by. */
  now: () => number;
}

function jitconfig(request: CheckedRequest, state: GitHubState, scope: string): { status: number; body: unknown } {
  const runners = state.runners.get(scope) ?? [];
  if (runners.some((r) => r.name === request.body.name)) return { status: 409, body: { message: "Already exists - A runner with the name already exists." } };
  const id = state.nextId++;
  // GitHub adds the read-only default labels; a JIT runner is offline until its process connects.
  const labels = ["self-hosted", "Linux", "X64", ...(request.body.labels as string[])].map((name, i) => ({
    id: i + 1,
    name,
    type: i < 3 ? ("read-only" as const) : ("custom" as const),
  }));
  const runner: Runner = {
    id,
    name: String(request.body.name),
    os: "Linux",
    status: "offline",
    busy: false,
    labels,
    runner_group_id: Number(request.body.runner_group_id ?? 1),
    ephemeral: true,
  };
  state.runners.set(scope, [...runners, runner]);
  const encoded = Buffer.from(
    JSON.stringify({ ".runner": { agentId: id, agentName: runner.name, scope, workFolder: request.body.work_folder ?? "_work" } }),
  ).toString("base64");
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

/**
 * The check run of `name` GitHub shows on commit `sha`, and branch protection reads: the
 * newest of that name, whatever older ones say.
 */
export function shownCheckRun(state: GitHubState, sha: string, name: string): Record<string, unknown> | undefined {
  let shown: Record<string, unknown> | undefined;
  for (const [id, run] of state.checkRuns) if (run.head_sha === sha && run.name === name && (!shown || id > Number(shown.id))) shown = run;
  return shown;
}

/** A runner as GitHub lists it: always with its group. */
const inGroup = (runner: Runner): Runner => ({ ...runner, runner_group_id: runner.runner_group_id ?? 1 });

const HANDLERS: Record<string, Handler> = {
  "checks/create": (request, state) => {
    const id = state.nextId++;
    const app = { id: APP_ID, slug: APP_SLUG };
    const run = {
      id,
      status: "queued",
      html_url: `https://github.com/${request.params.owner}/${request.params.repo}/runs/${id}`,
      app,
      check_suite: suiteOf(state, `${request.params.owner}/${request.params.repo}`, String(request.body.head_sha), app),
    };
    state.checkRuns.set(id, withUpdate(run, request.body));
    if (state.checkRunsUnlistedFor > 0) state.unlistedCheckRuns.set(id, state.checkRunsUnlistedFor);
    return { status: 201, body: run };
  },
  "checks/update": (request, state) => {
    const id = Number(request.params.check_run_id);
    const run = state.checkRuns.get(id);
    if (!run) return { status: 404, body: { message: "Not Found" } };
    // GitHub keeps a completed check run as it completed: neither its status nor its conclusion
    // changes again (it ignores or refuses the change). The double refuses, so that a test sees
    // it; the same conclusion again (an update retried after a lost answer) changes nothing.
    const status = request.body.conclusion ? "completed" : request.body.status;
    if (run.status === "completed" && status !== undefined && status !== "completed")
      return { status: 422, body: { message: "a completed check run cannot be reopened: create a new check run" } };
    if (run.status === "completed" && request.body.conclusion !== undefined && request.body.conclusion !== run.conclusion)
      return {
        status: 422,
        body: { message: `the conclusion of a completed check run cannot change (it is ${String(run.conclusion)}): create a new check run` },
      };
    withUpdate(run, request.body);
    return { status: 200, body: run };
  },
  "apps/create-installation-access-token": (request, state) => {
    if (state.uninstalled.has(Number(request.params.installation_id))) return { status: 404, body: { message: "Not Found" } };
    const token = `ghs_installation${request.params.installation_id}`;
    state.tokens.set(token, state.appPermissions);
    return {
      status: 201,
      body: { token, expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: state.appPermissions, repository_selection: "all" },
    };
  },
  "repos/get-content": (request, state) => {
    const ref = new URL(request.url, "http://x").searchParams.get("ref") ?? "HEAD";
    const text = state.files.get(`${request.params.owner}/${request.params.repo}@${ref}:${request.params.path}`);
    if (text === undefined) return { status: 404, body: { message: "Not Found" } };
    return {
      status: 200,
      body: {
        type: "file",
        encoding: "base64",
        size: text.length,
        name: request.params.path!.split("/").pop(),
        path: request.params.path,
        content: Buffer.from(text).toString("base64"),
        sha: "0".repeat(40),
      },
    };
  },
  "actions/list-self-hosted-runners-for-repo": (request, state) => {
    const runners = (state.runners.get(`${request.params.owner}/${request.params.repo}`) ?? []).map(inGroup);
    return { status: 200, body: { total_count: runners.length, runners } };
  },
  "actions/list-self-hosted-runners-for-org": (request, state) => {
    const runners = state.runners.get(`org:${request.params.org}`)?.map(inGroup);
    if (!runners) return { status: 404, body: { message: "Not Found" } };
    return { status: 200, body: { total_count: runners.length, runners } };
  },
  ...RUNNER_GROUP_HANDLERS,
  ...COMMIT_HANDLERS,
  "actions/create-workflow-dispatch": (request, state) => {
    const failure = state.dispatchFailures.shift();
    if (failure) return { status: failure, body: { message: "Server Error" } };
    const repo = `${request.params.owner}/${request.params.repo}`;
    const workflow = state.files.get(`${repo}@${String(request.body.ref)}:.github/workflows/${request.params.workflow_id}`) ?? SHIPPED_RUNNER_WORKFLOW;
    const refused = inputsRefusal(workflow, (request.body.inputs ?? {}) as Record<string, unknown>);
    if (refused) return { status: 422, body: { message: refused } };
    const run = expandDispatch(workflow, (request.body.inputs ?? {}) as Record<string, unknown>);
    if ("refusal" in run) return { status: 422, body: { message: run.refusal } };
    const runId = state.nextId++;
    const createdAt = Date.now();
    for (const job of run.jobs) {
      state.dispatches.push({
        repo,
        workflow: request.params.workflow_id!,
        ref: String(request.body.ref),
        inputs: job.inputs,
        runId,
        runName: run.runName,
        timeoutMinutes: job.timeoutMinutes,
        actor: APP_BOT,
        createdAt,
        unlistedFor: state.unlistedFor,
      });
      state.onDispatch?.(state.dispatches.at(-1)!);
    }
    const lost = state.dispatchLostResponses.shift();
    if (lost) return { status: lost, body: { message: "Server Error" } };
    // Unasked (and on GHES, which has no return_run_details), no run details: a 204.
    if (!request.body.return_run_details) return { status: 204, body: null };
    return {
      status: 200,
      body: {
        workflow_run_id: runId,
        run_url: `https://api.github.com/repos/${repo}/actions/runs/${runId}`,
        html_url: `https://github.com/${repo}/actions/runs/${runId}`,
      },
    };
  },
  "actions/list-workflow-runs": (request, state) => {
    const repo = `${request.params.owner}/${request.params.repo}`;
    // The runner workflow's run-name: "kto <job> attempt <n>". Newest first, a page at a time.
    // One entry a run, though a run of a matrix has one dispatch record per job.
    const mine = [...new Map(state.dispatches.filter((d) => d.repo === repo && d.workflow === request.params.workflow_id).map((d) => [d.runId, d])).values()];
    const listed = mine.filter((d) => !d.unlistedFor).sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0) || b.runId - a.runId);
    for (const d of mine) if (d.unlistedFor) d.unlistedFor -= 1;
    const query = new URL(request.url, "http://x").searchParams;
    const perPage = Math.min(100, Number(query.get("per_page") ?? 30));
    const page = Number(query.get("page") ?? 1);
    const last = Math.max(1, Math.ceil(listed.length / perPage));
    const runs = listed.slice((page - 1) * perPage, page * perPage).map((d) => {
      const job = JSON.parse(d.inputs.job ?? "{}") as { id?: string; attempt?: number };
      const actor = { login: d.actor ?? APP_BOT, type: (d.actor ?? APP_BOT).endsWith("[bot]") ? "Bot" : "User" };
      return {
        id: d.runId,
        name: "kto runner",
        display_title: d.runName ?? `kto ${job.id} attempt ${job.attempt}`,
        event: "workflow_dispatch",
        status: "queued",
        created_at: new Date(d.createdAt ?? 0).toISOString(),
        actor,
        triggering_actor: actor,
      };
    });
    // Relative to this server; the server makes it absolute, as GitHub's links are.
    const link = (n: number, rel: string) => `<${request.path}?per_page=${perPage}&page=${n}>; rel="${rel}"`;
    const headers: Record<string, string> = page < last ? { link: [link(page + 1, "next"), link(last, "last")].join(", ") } : {};
    return { status: 200, body: { total_count: listed.length, workflow_runs: runs }, headers };
  },
  "apps/get-authenticated": () => ({ status: 200, body: { id: APP_ID, slug: APP_SLUG, name: APP_SLUG, owner: { login: "kto-ci" } } }),
  "actions/cancel-workflow-run": (request, state) => {
    state.cancelled.push(Number(request.params.run_id));
    return { status: 202, body: {} };
  },
  "repos/get-commit": (request, state) => {
    const sha =
      state.refs.get(`${request.params.owner}/${request.params.repo}@${request.params.ref}`) ??
      (/^[0-9a-f]{40}$/.test(request.params.ref!) ? request.params.ref : undefined);
    return sha ? { status: 200, body: { sha } } : { status: 404, body: { message: "No commit found" } };
  },
  "repos/get": (request) => ({
    status: 200,
    body: {
      id: 1,
      name: request.params.repo,
      full_name: `${request.params.owner}/${request.params.repo}`,
      default_branch: "master",
      owner: { login: request.params.owner },
    },
  }),
  "pulls/get": (request, state) => {
    const pull = state.pulls.get(`${request.params.owner}/${request.params.repo}#${request.params.pull_number}`);
    return pull ? { status: 200, body: pull } : { status: 404, body: { message: "Not Found" } };
  },
  "apps/get-installation": (request, state) =>
    state.uninstalled.has(Number(request.params.installation_id))
      ? { status: 404, body: { message: "Not Found" } }
      : {
          status: 200,
          body: {
            id: Number(request.params.installation_id),
            app_id: 1,
            app_slug: APP_SLUG,
            target_type: "Organization",
            permissions: state.appPermissions,
            events: appManifest().default_events,
            repository_selection: "all",
          },
        },
  "apps/get-repo-installation": (request, state) => {
    const id = state.installations.get(`${request.params.owner}/${request.params.repo}`);
    return id
      ? { status: 200, body: { id, account: { login: request.params.owner }, app_id: 1, target_type: "Organization" } }
      : { status: 404, body: { message: "Not Found" } };
  },
  "apps/get-org-installation": (request, state) => {
    const id = state.installations.get(`org:${request.params.org}`);
    return id
      ? { status: 200, body: { id, account: { login: request.params.org }, app_id: 1, target_type: "Organization" } }
      : { status: 404, body: { message: "Not Found" } };
  },
  "actions/generate-runner-jitconfig-for-repo": (request, state) => jitconfig(request, state, `${request.params.owner}/${request.params.repo}`),
  "actions/generate-runner-jitconfig-for-org": (request, state) => jitconfig(request, state, `org:${request.params.org}`),
  "repos/get-collaborator-permission-level": (request, state) => {
    const { owner, repo, username } = request.params as { owner: string; repo: string; username: string };
    const role = state.permissions.get(`${owner}/${repo}`)?.get(username) ?? (username === owner ? "admin" : "read");
    // The legacy permission folds maintain into write and triage into read; role_name keeps the role.
    const permission = role === "maintain" ? "write" : role === "triage" ? "read" : role;
    const user = {
      login: username,
      id: 1,
      node_id: "U_1",
      type: "User",
      site_admin: false,
      role_name: role,
      permissions: {
        admin: role === "admin",
        maintain: role === "admin" || role === "maintain",
        push: permission !== "read",
        triage: role !== "read",
        pull: true,
      },
    };
    return { status: 200, body: { permission, role_name: role, user } };
  },
  "checks/list-annotations": (request, state) => {
    const run = state.checkRuns.get(Number(request.params.check_run_id));
    if (!run) return { status: 404, body: { message: "Not Found" } };
    const all = ((run.output as { annotations?: Record<string, unknown>[] } | undefined)?.annotations ?? []).map((a) => ({
      blob_href: "",
      start_column: null,
      end_column: null,
      raw_details: null,
      ...a,
    }));
    const query = new URL(request.url, "http://x").searchParams;
    const perPage = Math.min(100, Number(query.get("per_page") ?? 30));
    const page = Number(query.get("page") ?? 1);
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const link = (n: number, rel: string) => `<${request.path}?per_page=${perPage}&page=${n}>; rel="${rel}"`;
    const headers: Record<string, string> = page < last ? { link: [link(page + 1, "next"), link(last, "last")].join(", ") } : {};
    return { status: 200, body: all.slice((page - 1) * perPage, page * perPage), headers };
  },
  ...CHECK_SUITE_HANDLERS,
  ...ARTIFACT_HANDLERS,
  ...HOOK_DELIVERY_HANDLERS,
  ...REGISTRATION_TOKEN_HANDLERS,
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
  /** Requests received and not answered yet. */
  readonly unanswered: number;
  /** In "real limits" mode, what the limits refused and how often kto kept sending after being asked to wait. */
  limiter: RateLimiter | null;
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
  /**
   * "Real limits": GitHub's primary and secondary rate limits per token (GITHUB_LIMITS, or
   * these), answered as GitHub answers them. Off, the double answers everything at once.
   */
  limits?: true | Partial<RateLimits>;
  /** How long each answer takes, as GitHub's do: what makes concurrent requests concurrent. */
  latencyMs?: number;
  /** The limits' clock. */
  now?: () => number;
}

/** GitHub's REST API over real HTTP, stateful for the endpoints kto uses, strict about everything it is sent. */
export async function startGitHubApiDouble(options: GitHubApiDoubleOptions = {}): Promise<GitHubApiDouble> {
  const ghesVersion = options.ghesVersion ?? GHES_VERSIONS[0]!;
  const state: GitHubState = {
    checkRuns: new Map(),
    checkSuites: new Map(),
    checkRunsUnlistedFor: 0,
    unlistedCheckRuns: new Map(),
    nextId: 1000,
    files: new Map(),
    runners: new Map(),
    runnerGroups: new Map(),
    dispatches: [],
    artifacts: [],
    cancelled: [],
    hookDeliveries: [],
    runs: new Map(),
    webhookTarget: null,
    dispatchFailures: [],
    dispatchLostResponses: [],
    pulls: new Map(),
    permissions: new Map(),
    refs: new Map(),
    commits: new Map(),
    installations: new Map(),
    uninstalled: new Set(),
    outage: [],
    outageServed: 0,
    unlistedFor: 0,
    failures: new Map(),
    lostAnswers: new Map(),
    outputRefusals: [],
    appPermissions: appManifest().default_permissions,
    tokens: new Map(),
    registrationTokens: new Map(),
    now: options.now ?? Date.now,
  };
  const rejected: string[] = [];
  const requests: CheckedRequest[] = [];
  const now = state.now;
  const limiter = options.limits ? new RateLimiter({ ...GITHUB_LIMITS, ...(options.limits === true ? {} : options.limits) }, now) : null;
  let unanswered = 0;
  const server = createServer((request, response) => {
    unanswered += 1;
    // Decoded whole: a character split between two chunks would count as two replacement characters.
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const text = Buffer.concat(chunks).toString();
      // GitHub Enterprise Server names its version on every response.
      const server = request.url?.startsWith("/api/v3/") ? { "x-github-enterprise-version": `${ghesVersion}.0` } : {};
      let finished = () => undefined as void;
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        const answer = () => {
          unanswered -= 1;
          finished();
          if (body === null) return response.writeHead(status, { ...server, ...headers }).end();
          response.writeHead(status, { "content-type": "application/json", ...server, ...headers }).end(JSON.stringify(body));
        };
        if (options.latencyMs) setTimeout(answer, options.latencyMs);
        else answer();
      };
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
      const token = request.headers.authorization!;
      const who = caller.kind === "app" ? "the App" : `installation ID ${/installation(\d+)/.exec(token)?.[1] ?? "?"}`;
      const injected = (limit: Limit, status: 403 | 429, retryAfterS?: number, resetInS = 1) => {
        const window = limiter?.window(token) ?? { limit: GITHUB_LIMITS.perHour, used: GITHUB_LIMITS.perHour, resetAt: now() + resetInS * 1000 };
        const answer = limitAnswer(limit, limit === "primary" ? { ...window, resetAt: now() + resetInS * 1000 } : window, {
          who,
          status,
          ...(retryAfterS === undefined ? {} : { retryAfterS }),
        });
        return send(answer.status, answer.body, answer.headers);
      };
      const outage = state.failures.get(checked.operationId)?.shift() ?? state.outage.shift();
      if (outage) state.outageServed += 1;
      if (outage === 429) return injected("primary", 429, 1);
      if (typeof outage === "object") return injected(outage.limit, outage.status ?? 403, outage.retryAfterS, outage.resetInS);
      if (outage) return send(outage, { message: "Server Error" });
      const refusedOutput = ["checks/create", "checks/update"].includes(checked.operationId) && checked.body.output ? state.outputRefusals.shift() : undefined;
      if (refusedOutput !== undefined) return send(422, { message: refusedOutput });
      const admitted = limiter?.admit(token, checked, who);
      if (admitted && !admitted.ok) return send(admitted.answer.status, admitted.answer.body, admitted.answer.headers);
      if (admitted) finished = admitted.done;
      const limitHeaders = admitted?.headers ?? {};
      const handler = HANDLERS[checked.operationId];
      if (!handler) {
        rejected.push(`${checked.method} ${checked.path}: the double does not serve ${checked.operationId}`);
        return send(501, { message: `not served: ${checked.operationId}` });
      }
      const { status, body, headers = {} } = handler(checked, state);
      // A request GitHub finds invalid for the state it is in: as much a contract break as a malformed one.
      if (status === 422) rejected.push(`${checked.method} ${checked.path}: 422: ${(body as { message?: string }).message}`);
      // A handler's 429 (an injected dispatch failure) is the primary limit's, with its headers.
      if (status === 429) return injected("primary", 429, 1);
      const lost = state.lostAnswers.get(checked.operationId)?.shift();
      if (lost) return send(lost, { message: "Server Error" });
      if (headers.link) headers.link = headers.link.replace(/<\//g, `<http://${request.headers.host}${request.url?.startsWith("/api/v3/") ? "/api/v3" : ""}/`);
      send(status, body, { ...limitHeaders, ...headers });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    state,
    rejected,
    requests,
    get unanswered() {
      return unanswered;
    },
    limiter,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
