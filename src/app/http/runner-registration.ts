import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import { type Octokit, type OctokitFor, splitRepo } from "../github/github-api.js";
import { foreignRunnerLabels, RUNNER_LABEL_PREFIX, uniqueRunnerLabel, type GitHubRunnerPool, type RegisteredRunner } from "../github/github-runner-pool.js";

const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** What a runner host says of the runner it registers: where, its name, labels and group. */
const runnerFields = z.object({
  /** Register for one repository (owner/name) or for an organisation. */
  repository: z.string().regex(REPOSITORY, "expected owner/name").optional(),
  organization: z.string().min(1).optional(),
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "expected a runner name of letters, digits, '.', '_' and '-'"),
  // generate-jitconfig takes at most 100 labels; the runner allows 256 characters, kto's are far shorter.
  labels: z.array(z.string().min(1).max(100)).min(1, "a runner needs its labels").max(100),
  runner_group_id: z.number().int().min(1).default(1),
  work_folder: z.string().default("_work"),
});

/** One repository or organisation, and the label rule: the only kto-runner-<name> label a runner may have is its own. */
function withRunnerRules(fields: typeof runnerFields) {
  return fields
    .refine((r) => Boolean(r.repository) !== Boolean(r.organization), { message: "give exactly one of repository and organization", path: ["repository"] })
    .refine((r) => uniqueRunnerLabel(r.labels) !== undefined, {
      message: "one label must be the runner's unique kto-runner-<name> label (kto host labels prints it)",
      path: ["labels"],
    })
    .superRefine((r, context) => {
      // The App leases a job to one runner by its unique label, and GitHub matches labels
      // without regard to case: a runner with another's label could take that runner's jobs.
      const foreign = foreignRunnerLabels(r.name, r.labels);
      if (foreign.length > 0)
        context.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["labels"],
          message: `${foreign.join(", ")}: a runner may carry no kto-runner-<name> label but its own, ${RUNNER_LABEL_PREFIX}${r.name}`,
        });
    });
}

/** What a runner host sends to register one ephemeral runner, just in time or with a registration token. */
export const registrationSchema = withRunnerRules(runnerFields);

/** What a runner host reports once config.sh has registered its runner: the runner's id, from the runner's .runner file. */
export const registeredSchema = registrationSchema.and(z.object({ runner_id: z.number().int().min(1) }));
export type RegisteredReport = z.output<typeof registeredSchema>;

export type RegistrationRequest = z.output<typeof registrationSchema>;

export interface Registration {
  runnerId: number;
  name: string;
  labels: string[];
  /** Given to the Actions runner (ACTIONS_RUNNER_INPUT_JITCONFIG, or `run.sh --jitconfig`); valid for one job. */
  encodedJitConfig: string;
}

export class RegistrationError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "RegistrationError";
  }
}

/** Constant-time comparison of the runner hosts' shared secret. */
export function registrationSecretMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Where runner hosts may register runners. Every host holds the same registration secret,
 * so the App, not the host, decides: a runner registered somewhere takes that
 * repository's or organisation's jobs, and their secrets.
 */
export interface RegistrationScope {
  repositories: Set<string>;
  organizations: Set<string>;
  groups: Set<number>;
}

function listSetting(env: NodeJS.ProcessEnv, name: string, pattern: RegExp, expected: string): string[] {
  const items = (env[name] ?? "").split(/[\s,]+/).filter(Boolean);
  const bad = items.find((item) => !pattern.test(item));
  // Fails closed: a list the App cannot read allows nothing rather than everything.
  if (bad !== undefined)
    throw new RegistrationError(500, `${name}: "${bad}" is not ${expected} (a comma-separated list); the App registers no runner until it is fixed`);
  return items;
}

/** The scope from the App's settings; unset, no repository, no organisation, and the default runner group (1) only. */
export function registrationScope(env: NodeJS.ProcessEnv): RegistrationScope {
  const groups = listSetting(env, "KTO_RUNNER_GROUPS", /^[1-9][0-9]*$/, "a runner group id").map(Number);
  return {
    // GitHub's owner, repository and organisation names are case-insensitive.
    repositories: new Set(listSetting(env, "KTO_RUNNER_REPOSITORIES", REPOSITORY, "owner/name").map((r) => r.toLowerCase())),
    organizations: new Set(listSetting(env, "KTO_RUNNER_ORGANIZATIONS", /^[A-Za-z0-9-]+$/, "an organisation name").map((o) => o.toLowerCase())),
    groups: new Set(groups.length > 0 ? groups : [1]),
  };
}

export function checkScope(scope: RegistrationScope, request: Pick<RegistrationRequest, "repository" | "organization" | "runner_group_id">): void {
  const refuse = (what: string, setting: string) =>
    new RegistrationError(403, `the App does not register runners ${what}: add it to ${setting} in the App's settings to allow it`);
  if (request.repository && !scope.repositories.has(request.repository.toLowerCase())) throw refuse(`for ${request.repository}`, "KTO_RUNNER_REPOSITORIES");
  if (request.organization && !scope.organizations.has(request.organization.toLowerCase()))
    throw refuse(`for the organisation ${request.organization}`, "KTO_RUNNER_ORGANIZATIONS");
  if (!scope.groups.has(request.runner_group_id)) throw refuse(`in runner group ${request.runner_group_id}`, "KTO_RUNNER_GROUPS");
}

export interface RegistrationDeps {
  /** The App itself (JWT), to find the installation of a repository or organisation. */
  appOctokit: () => Promise<Octokit>;
  octokitFor: OctokitFor;
  pool: Pick<GitHubRunnerPool, "track">;
  /**
   * Called once the runner exists (with where: owner/name or org:name, and the installation
   * that registered it), so the pool has it without waiting for the periodic sync.
   */
  onRegistered?: (home: string, runner: RegisteredRunner, installationId: number) => Promise<void>;
}

/**
 * Just-in-time runner configuration through the App: runner hosts hold no GitHub
 * credentials, only a registration secret; the App, as the installation, asks GitHub for
 * a single-use runner config with the host's labels, where the App's settings allow it.
 * The settings come from the App's runner at each registration: startApp takes
 * none of them.
 */
/** The App's installation on the repository or organisation a host registers for: 404 where there is none. */
export async function installationFor(app: Octokit, request: Pick<RegistrationRequest, "repository" | "organization">): Promise<number> {
  const where = request.repository ?? request.organization!;
  const notInstalled = (error: unknown) => {
    throw httpStatusOf(error) === 404 ? new RegistrationError(404, `the kto App is not installed on ${where}: install it there first`) : error;
  };
  if (request.repository) {
    const { owner, repo } = splitRepo(request.repository);
    return (await app.rest.apps.getRepoInstallation({ owner, repo }).catch(notInstalled)).data.id;
  }
  return (await app.rest.apps.getOrgInstallation({ org: where }).catch(notInstalled)).data.id;
}

/** GitHub's refusals of a registration, as the host is told them. */
export function registrationRefusal(error: unknown, request: { name: string; repository?: string; organization?: string }): unknown {
  if (error instanceof RegistrationError) return error;
  const status = httpStatusOf(error);
  // 409: a runner of that name exists (a host restarted before its old runner was removed).
  if (status === 409)
    return new RegistrationError(
      409,
      `a runner named ${request.name} is already registered: remove it in the repository's Actions settings, or use another name`,
    );
  if (status === 403)
    return new RegistrationError(
      403,
      request.repository
        ? `GitHub refused: registering a runner for ${request.repository} needs the App's Administration (write) permission; an App deployed for organisation runners only registers them with --organization`
        : `GitHub refused: registering a runner for the organisation ${request.organization!} needs the App's Self-hosted runners (write) organisation permission`,
    );
  return error;
}

export async function registerRunner(deps: RegistrationDeps, request: RegistrationRequest): Promise<Registration> {
  checkScope(registrationScope(process.env), request);
  const app = await deps.appOctokit();
  const body = { name: request.name, labels: request.labels, runner_group_id: request.runner_group_id, work_folder: request.work_folder };
  let data: { runner: RegisteredRunner; encoded_jit_config: string };
  let installationId: number;
  try {
    installationId = await installationFor(app, request);
    const octokit = await deps.octokitFor(installationId);
    if (request.repository) {
      const { owner, repo } = splitRepo(request.repository);
      ({ data } = await octokit.rest.actions.generateRunnerJitconfigForRepo({ owner, repo, ...body }));
      deps.pool.track(request.repository, installationId);
    } else {
      ({ data } = await octokit.rest.actions.generateRunnerJitconfigForOrg({ org: request.organization!, ...body }));
    }
  } catch (error) {
    throw registrationRefusal(error, request);
  }
  // The group is the one asked for, should GitHub's answer not name it: it decides the runner's scope.
  const runner = { ...data.runner, runner_group_id: data.runner.runner_group_id ?? request.runner_group_id };
  await deps.onRegistered?.(request.repository ?? `org:${request.organization!}`, runner, installationId);
  return { runnerId: data.runner.id, name: data.runner.name, labels: (data.runner.labels ?? []).map((l) => l.name), encodedJitConfig: data.encoded_jit_config };
}
