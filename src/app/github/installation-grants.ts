import { httpStatusOf } from "../../orchestrator/http-status.js";
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
/** GitHub no longer knows the installation (the App was uninstalled): none of its repositories has runners for kto. */
export class InstallationGoneError extends Error {
  constructor(readonly installationId: number) {
    super(`installation ${installationId} is gone (GitHub answers 404): the App was uninstalled there`);
  }
}

export class InstallationGrants {
  /** Each installation's grants, or that it is gone, until a time: a gone one costs one request an hour, not one a sync. */
  private readonly kept = new Map<number, { grants: RunnerGrants | "gone"; until: number }>();

  constructor(
    private readonly appOctokit: () => Promise<Octokit>,
    private readonly now: () => number,
  ) {}

  async runnerGrantsOf(installationId: number): Promise<RunnerGrants> {
    const kept = this.kept.get(installationId);
    if (kept && kept.until > this.now()) {
      if (kept.grants === "gone") throw new InstallationGoneError(installationId);
      return kept.grants;
    }
    let data;
    try {
      ({ data } = await (await this.appOctokit()).rest.apps.getInstallation({ installation_id: installationId }));
    } catch (error) {
      if (httpStatusOf(error) !== 404) throw error;
      this.kept.set(installationId, { grants: "gone", until: this.now() + GRANTS_KEPT_MS });
      throw new InstallationGoneError(installationId);
    }
    const granted = data.permissions as Record<string, string | undefined>;
    const grants = { repository: granted.administration !== undefined, organization: granted.organization_self_hosted_runners !== undefined };
    this.kept.set(installationId, { grants, until: this.now() + GRANTS_KEPT_MS });
    return grants;
  }
}
