import type { Probot } from "probot";
import { CoalescedPass } from "../../orchestrator/coalesced-pass.js";
import { RUNNER_LABEL_PREFIX } from "../github/github-runner-pool.js";
import type { WebhookKit } from "./webhook-kit.js";

/** workflow_job events: a kto run that ended without reporting, and runners coming and going. */
export function workflowJobHandler(kit: WebhookKit) {
  const { service, pool, once, failLostRun } = kit;

  // A run that ended without reporting may have lost its runner, and a runner kto does not
  // know may have joined: the pool is listed again (the repositories concerned, and the
  // organisations whose period is up), once for however many such events arrive together.
  const resync = new CoalescedPass(async () => {
    await service.syncRunners();
    return 0;
  });

  const relist = (context: { log: { warn: (fields: object, message: string) => void } }) =>
    void resync.run().catch((err: unknown) => context.log.warn({ err }, "kto: listing the runners again failed; the periodic sync tries again"));

  return (app: Probot) => {
    app.on(
      "workflow_job",
      once(async (context) => {
        const wj = context.payload.workflow_job;
        const repo = context.payload.repository.full_name;
        // kto's runs ask for a kto-runner-<name> label; another workflow's job matters only
        // on one of kto's runners, which the payload names, or as news of a self-hosted
        // runner kto does not know.
        const ours = wj.labels.some((label) => label.toLowerCase().startsWith(RUNNER_LABEL_PREFIX));
        const runnerId = wj.runner_id ?? null;
        const unknown = runnerId !== null && pool.knownRunnerOf(repo, runnerId) === null;
        // A self-hosted runner kto does not know has joined the repository: it is listed, once for that runner.
        if (unknown && (ours || wj.labels.some((label) => label.toLowerCase() === "self-hosted")) && pool.unknownRunner(repo, runnerId)) relist(context);
        if (!ours && (runnerId === null || unknown)) return;
        if (ours && context.payload.action === "completed") {
          // A run that ended without a finished report lost its job: an infrastructure failure.
          const lost = await failLostRun({
            repo,
            runId: String(wj.run_id),
            labels: wj.labels,
            jobName: wj.name ?? null,
            reason: `the workflow run ended (${wj.conclusion}) without a report`,
          });
          if (lost > 0) {
            pool.runLost(repo);
            relist(context);
          }
        }
        if (runnerId !== null) {
          const change = await pool.observe({ repo, action: context.payload.action, runnerId, ours });
          if (change) await service.takeOffline(change.gone, change.reason);
        }
        service.wake();
      }),
    );
  };
}
