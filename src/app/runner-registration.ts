import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { Octokit, OctokitFor } from "./github-api.js";
import { splitRepo } from "./github-api.js";
import { uniqueRunnerLabel, type GitHubRunnerPool } from "./github-runner-pool.js";

/** What a runner host sends to register one ephemeral runner. */
export const registrationSchema = z
  .object({
    /** Register for one repository (owner/name) or for an organisation. */
    repository: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "expected owner/name").optional(),
    organization: z.string().min(1).optional(),
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "expected a runner name of letters, digits, '.', '_' and '-'"),
    labels: z.array(z.string().min(1).max(100)).min(1, "a runner needs its labels").max(100),
    runner_group_id: z.number().int().min(1).default(1),
    work_folder: z.string().default("_work"),
  })
  .refine((r) => Boolean(r.repository) !== Boolean(r.organization), { message: "give exactly one of repository and organization", path: ["repository"] })
  .refine((r) => uniqueRunnerLabel(r.labels) !== undefined, { message: "one label must be the runner's unique kto-runner-<name> label (kto host labels prints it)", path: ["labels"] });

export type RegistrationRequest = z.output<typeof registrationSchema>;

export interface Registration {
  runnerId: number;
  name: string;
  labels: string[];
  /** Passed to the Actions runner as `run.sh --jitconfig`; valid for one job. */
  encodedJitConfig: string;
}

export class RegistrationError extends Error {
  constructor(readonly status: number, message: string) {
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

export interface RegistrationDeps {
  /** The App itself (JWT), to find the installation of a repository or organisation. */
  appOctokit: () => Promise<Octokit>;
  octokitFor: OctokitFor;
  pool: GitHubRunnerPool;
  /** Called once the runner exists, so the pool lists it without waiting for the periodic sync. */
  onRegistered?: () => Promise<void>;
}

/**
 * Just-in-time runner configuration through the App: runner hosts hold no GitHub
 * credentials, only a registration secret; the App, as the installation, asks GitHub for
 * a single-use runner config with the host's labels.
 */
export async function registerRunner(deps: RegistrationDeps, request: RegistrationRequest): Promise<Registration> {
  const app = await deps.appOctokit();
  const body = { name: request.name, labels: request.labels, runner_group_id: request.runner_group_id, work_folder: request.work_folder };
  const notInstalled = (where: string) => new RegistrationError(404, `the kto App is not installed on ${where}: install it there first`);
  let data: { runner: { id: number; name: string; labels?: { name: string }[] }; encoded_jit_config: string };
  try {
    if (request.repository) {
      const { owner, repo } = splitRepo(request.repository);
      const installation = await app.rest.apps.getRepoInstallation({ owner, repo }).catch((error: { status?: number }) => {
        throw error.status === 404 ? notInstalled(request.repository!) : error;
      });
      const octokit = await deps.octokitFor(installation.data.id);
      ({ data } = await octokit.rest.actions.generateRunnerJitconfigForRepo({ owner, repo, ...body }));
      deps.pool.track(request.repository, installation.data.id);
    } else {
      const org = request.organization!;
      const installation = await app.rest.apps.getOrgInstallation({ org }).catch((error: { status?: number }) => {
        throw error.status === 404 ? notInstalled(org) : error;
      });
      const octokit = await deps.octokitFor(installation.data.id);
      ({ data } = await octokit.rest.actions.generateRunnerJitconfigForOrg({ org, ...body }));
    }
  } catch (error) {
    if (error instanceof RegistrationError) throw error;
    const status = (error as { status?: number }).status;
    // 409: a runner of that name exists (a host restarted before its old runner was removed).
    if (status === 409) throw new RegistrationError(409, `a runner named ${request.name} is already registered: remove it in the repository's Actions settings, or use another name`);
    if (status === 403) throw new RegistrationError(403, "GitHub refused: the App needs the Administration (repository) or Self-hosted runners (organisation) write permission");
    throw error;
  }
  await deps.onRegistered?.();
  return { runnerId: data.runner.id, name: data.runner.name, labels: (data.runner.labels ?? []).map((l) => l.name), encodedJitConfig: data.encoded_jit_config };
}
