import type { Octokit } from "./github-api.js";

/** The runners an installation may list and register, as the permissions it was granted say. */
export interface RunnerGrants {
  /** Administration: a repository's own runners. */
  repository: boolean;
  /** Self-hosted runners (organisation): an organisation's runners and runner groups. */
  organization: boolean;
}

/**
 * How long an installation's permissions are taken as read: about an installation token's
 * life, since a token keeps the permissions it was issued with. An owner who grants or
 * withdraws Administration later sees kto follow within the hour; meanwhile a refused
 * repository listing still lets the organisation's runners be listed.
 */
export const GRANTS_KEPT_MS = 3_600_000;

/**
 * What each installation was granted, read with the App's own token (one request an
 * installation an hour). An organisation-only deployment grants no Administration: kto
 * then never asks for a repository's runners, which GitHub would refuse with 403 on every
 * sync, and lists the organisation's. Permissions that cannot be read now fail the listing,
 * as any failure that passes does, and the pool stays as it was.
 */
export class InstallationGrants {
  private readonly kept = new Map<number, { grants: RunnerGrants; until: number }>();

  constructor(
    private readonly appOctokit: () => Promise<Octokit>,
    private readonly now: () => number,
  ) {}

  async runnerGrantsOf(installationId: number): Promise<RunnerGrants> {
    const kept = this.kept.get(installationId);
    if (kept && kept.until > this.now()) return kept.grants;
    const { data } = await (await this.appOctokit()).rest.apps.getInstallation({ installation_id: installationId });
    const granted = data.permissions as Record<string, string | undefined>;
    const grants = { repository: granted.administration !== undefined, organization: granted.organization_self_hosted_runners !== undefined };
    this.kept.set(installationId, { grants, until: this.now() + GRANTS_KEPT_MS });
    return grants;
  }
}
