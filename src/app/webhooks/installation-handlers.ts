import type { Probot } from "probot";
import { asOctokit } from "../github/github-api.js";
import { SETUP_CHECK_RUN, showOnboarding } from "./onboarding.js";
import { RUNNER_WORKFLOW_PATH } from "./onboarding-files.js";
import type { WebhookKit } from "./webhook-kit.js";

/** The App installed on, or removed from, repositories. */
export function installationHandlers(kit: WebhookKit) {
  const { service, pool, reads, once } = kit;

  return (app: Probot) => {
    app.on(
      ["installation.deleted", "installation_repositories.removed"],
      once(async (context) => {
        const payload = context.payload as { repositories?: { full_name: string }[]; repositories_removed?: { full_name: string }[] };
        const gone = new Set((payload.repositories ?? payload.repositories_removed ?? []).map((r) => r.full_name));
        for (const repo of gone) pool.untrack(repo);
        // kto can no longer act there: its waiting and running jobs end.
        for (const repo of gone) await service.cancelJobs(await reads.jobs.unfinishedJobsOf(repo), "kto was uninstalled from the repository");
        await service.syncRunners();
      }),
    );

    app.on(
      ["installation.created", "installation_repositories.added"],
      once(async (context) => {
        const payload = context.payload as {
          installation: { id: number };
          repositories?: { full_name: string }[];
          repositories_added?: { full_name: string }[];
        };
        const repos = (payload.repositories ?? payload.repositories_added ?? []).map((r) => r.full_name);
        // One repository kto cannot read (archived, renamed meanwhile) must not keep the rest from being set up.
        const failed: { repo: string; error: unknown }[] = [];
        for (const repo of repos) {
          pool.track(repo, payload.installation.id);
          try {
            const setup = await showOnboarding(asOctokit(context.octokit), repo);
            if (setup !== null)
              context.log.info(
                { repo },
                `kto: ${repo} has no ${RUNNER_WORKFLOW_PATH}; the ${SETUP_CHECK_RUN} check run on its default branch shows what to add`,
              );
          } catch (error) {
            failed.push({ repo, error });
          }
        }
        await service.syncRunners();
        if (failed.length > 0) {
          throw new AggregateError(
            failed.map((f) => f.error),
            `kto: setting up ${failed.length} of ${repos.length} repositories failed (${failed.map((f) => f.repo).join(", ")}); the others are set up. Each one's error follows; redeliver the webhook once it is fixed`,
          );
        }
      }),
    );
  };
}
