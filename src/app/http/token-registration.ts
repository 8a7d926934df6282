import type { Octokit, OctokitFor } from "../github/github-api.js";
import type { GitHubRunnerPool, RegisteredRunner } from "../github/github-runner-pool.js";
import type { RegistrationTokens } from "../github/registration-tokens.js";
import {
  checkScope,
  installationFor,
  registrationRefusal,
  registrationScope,
  RegistrationError,
  type RegisteredReport,
  type RegistrationRequest,
} from "./runner-registration.js";

/** What a runner host gets to register its runner with config.sh. */
export interface TokenGrant {
  /** config.sh's --url: the repository's or organisation's page. */
  url: string;
  /** config.sh's --token (given in ACTIONS_RUNNER_INPUT_TOKEN): valid until expiresAt, for any runner of that repository or organisation. */
  token: string;
  expiresAt: string;
  name: string;
  labels: string[];
  /** config.sh's --runnergroup, by name; null for a repository's runner. */
  runnerGroup: string | null;
  workFolder: string;
}

export interface TokenRegistrationDeps {
  /** The App itself (JWT), to find the installation of a repository or organisation. */
  appOctokit: () => Promise<Octokit>;
  octokitFor: OctokitFor;
  tokens: RegistrationTokens;
  pool: Pick<GitHubRunnerPool, "track" | "registered">;
  /** Where GitHub is: https://github.com, or the GHES host. */
  serverUrl: string;
  now: () => number;
  /** After a runner is in the pool: a queue pass may give it a job. */
  onRegistered?: () => void;
}

/** An installation id is looked up again after this long: an App uninstalled meanwhile stops being asked. */
const INSTALLATION_KEPT_MS = 10 * 60_000;

/**
 * Runner registration with a registration token. The App checks the host's runner as it
 * checks a just-in-time one (where, which group, the label rule) and hands it the token of
 * its repository or organisation, asked of GitHub about once an hour per home; the host
 * registers its ephemeral runner with config.sh and reports the runner's id, so the pool
 * has it without a listing. A token lets its holder choose any labels: the pool holds every
 * runner it learns of to the label rule (`GitHubRunnerPool`), and a runner reported here
 * is held to it before it goes in.
 */
export class TokenRegistration {
  private readonly installations = new Map<string, { id: number; at: number }>();
  private readonly groupNames = new Map<string, string>();

  constructor(private readonly deps: TokenRegistrationDeps) {}

  async grant(request: RegistrationRequest): Promise<TokenGrant> {
    checkScope(registrationScope(process.env), request);
    try {
      const installationId = await this.installationOf(request);
      const home = request.repository ? { repository: request.repository } : { organization: request.organization! };
      const token = await this.deps.tokens.tokenFor(home, installationId);
      return {
        url: `${this.deps.serverUrl}/${request.repository ?? request.organization!}`,
        token: token.token,
        expiresAt: new Date(token.expiresAt).toISOString(),
        name: request.name,
        labels: request.labels,
        runnerGroup: request.organization ? await this.groupName(request.organization, request.runner_group_id, installationId) : null,
        workFolder: request.work_folder,
      };
    } catch (error) {
      throw registrationRefusal(error, request);
    }
  }

  /** A host's runner, registered with config.sh: in the pool at once, as an ephemeral runner kto registered. */
  async record(report: RegisteredReport): Promise<{ runnerId: number }> {
    checkScope(registrationScope(process.env), report);
    const installationId = await this.installationOf(report).catch((error: unknown) => {
      throw registrationRefusal(error, report);
    });
    const runner: RegisteredRunner = {
      id: report.runner_id,
      name: report.name,
      // GitHub adds self-hosted (and the OS and architecture) to a runner config.sh registers.
      labels: ["self-hosted", ...report.labels].map((name) => ({ name })),
      ephemeral: true,
      runner_group_id: report.runner_group_id,
    };
    if (report.repository) this.deps.pool.track(report.repository, installationId);
    await this.deps.pool.registered(report.repository ?? `org:${report.organization!}`, runner, installationId);
    this.deps.onRegistered?.();
    return { runnerId: report.runner_id };
  }

  private async installationOf(request: Pick<RegistrationRequest, "repository" | "organization">): Promise<number> {
    const key = (request.repository ?? `org:${request.organization!}`).toLowerCase();
    const kept = this.installations.get(key);
    if (kept && this.deps.now() - kept.at < INSTALLATION_KEPT_MS) return kept.id;
    const id = await installationFor(await this.deps.appOctokit(), request);
    this.installations.set(key, { id, at: this.deps.now() });
    return id;
  }

  /** config.sh names a runner group; GitHub's Default group is id 1. Read once per organisation and group. */
  private async groupName(organization: string, groupId: number, installationId: number): Promise<string> {
    if (groupId === 1) return "Default";
    const key = `${organization.toLowerCase()}#${groupId}`;
    const kept = this.groupNames.get(key);
    if (kept) return kept;
    const octokit = await this.deps.octokitFor(installationId);
    const groups = await octokit.paginate("GET /orgs/{org}/actions/runner-groups", { org: organization, per_page: 100 });
    for (const group of groups) this.groupNames.set(`${organization.toLowerCase()}#${group.id}`, group.name);
    const name = this.groupNames.get(key);
    if (!name) throw new RegistrationError(404, `the organisation ${organization} has no runner group ${groupId}`);
    return name;
  }
}
