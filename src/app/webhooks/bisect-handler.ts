import type { JobRecord, PlanRecord } from "../../orchestrator/store/store.js";
import { asOctokit } from "../github/github-api.js";
import { writerOf } from "../trust/trust-gate.js";
import type { WebhookKit } from "./webhook-kit.js";

interface Pressed {
  octokit: unknown;
  payload: { repository: { name: string; owner: { login: string } }; sender: { login: string } };
}

/**
 * The Bisect button of a regression's check run. It starts work on kto's hardware, so only
 * someone GitHub says can write to the repository may press it; anyone else's press, or a
 * press on a job that no longer offers it, starts nothing. A second press finds the
 * bisection already asked for.
 */
export async function pressBisect(kit: Pick<WebhookKit, "bisector">, context: Pressed, job: JobRecord, plan: PlanRecord): Promise<void> {
  if (!kit.bisector) return;
  const { repository, sender } = context.payload;
  const octokit = asOctokit(context.octokit);
  const writer = await writerOf(octokit, repository.owner.login, repository.name, sender.login);
  if (!writer) return;
  const offer = await kit.bisector.offered(job, plan);
  if (!offer) return;
  await kit.bisector.start({ job, plan, offer, writer, octokit });
}
