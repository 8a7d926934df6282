import type { GitHubState, Handler, Runner } from "../github-api-double.js";

/** GitHub's registration tokens last an hour. */
export const REGISTRATION_TOKEN_MS = 3_600_000;

/** A runner registration token GitHub handed out: for one repository (owner/name) or organisation (org:name), until it expires. */
export interface RegistrationToken {
  scope: string;
  expiresAt: number;
}

function issue(state: GitHubState, scope: string): ReturnType<Handler> {
  const token = `AABBREG${state.nextId++}`;
  const expiresAt = state.now() + REGISTRATION_TOKEN_MS;
  state.registrationTokens.set(token, { scope, expiresAt });
  return { status: 201, body: { token, expires_at: new Date(expiresAt).toISOString() } };
}

export const REGISTRATION_TOKEN_HANDLERS: Record<string, Handler> = {
  "actions/create-registration-token-for-repo": (request, state) => issue(state, `${request.params.owner}/${request.params.repo}`),
  "actions/create-registration-token-for-org": (request, state) => issue(state, `org:${request.params.org}`),
};

export class RunnerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunnerConfigError";
  }
}

/**
 * What the Actions runner's `config.sh --url … --token … --ephemeral` does at GitHub: with a
 * registration token of that scope, not expired, it registers a runner of that name (GitHub
 * adds its default labels), offline until its process connects. Not part of the REST API,
 * so served as a function, for tests that stand in for config.sh.
 */
export function configureRunner(
  state: GitHubState,
  request: { scope: string; token: string; name: string; labels: string[]; runnerGroupId?: number; ephemeral: boolean },
): Runner {
  const token = state.registrationTokens.get(request.token);
  if (!token || token.scope.toLowerCase() !== request.scope.toLowerCase())
    throw new RunnerConfigError("Http response code: NotFound from 'POST https://api.github.com/actions/runner-registration'");
  if (token.expiresAt <= state.now()) throw new RunnerConfigError("Http response code: Unauthorized: the registration token has expired");
  const runners = state.runners.get(request.scope) ?? [];
  if (runners.some((r) => r.name === request.name)) throw new RunnerConfigError(`A runner exists with the same name ${request.name}`);
  const runner: Runner = {
    id: state.nextId++,
    name: request.name,
    os: "Linux",
    status: "offline",
    busy: false,
    ephemeral: request.ephemeral,
    labels: ["self-hosted", "Linux", "X64", ...request.labels].map((name, i) => ({
      id: i + 1,
      name,
      type: i < 3 ? ("read-only" as const) : ("custom" as const),
    })),
    runner_group_id: request.runnerGroupId ?? 1,
  };
  state.runners.set(request.scope, [...runners, runner]);
  return runner;
}
