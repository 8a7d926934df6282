import type { JobRecord, PlanRecord } from "../../orchestrator/store/store.js";
import { asOctokit, type Octokit } from "../github/github-api.js";
import { writerOf, type Writer } from "../trust/trust-gate.js";
import type { WebhookKit } from "./webhook-kit.js";

interface Pressed {
  octokit: unknown;
  payload: { repository: { name: string; owner: { login: string }; full_name: string }; sender: { login: string } };
}

/**
 * Who pressed a bisection's button, when GitHub says they can write to the repository; null
 * for anyone else. A bisection starts work on kto's hardware and stops a writer's, so both
 * of its buttons ask this, and only this.
 */
async function writerPressing(context: Pressed): Promise<{ writer: Writer; octokit: Octokit } | null> {
  const { repository, sender } = context.payload;
  const octokit = asOctokit(context.octokit);
  const writer = await writerOf(octokit, repository.owner.login, repository.name, sender.login);
  return writer ? { writer, octokit } : null;
}

/**
 * The Bisect button of a regression's check run. Anyone's press but a writer's, or a press
 * on a job that no longer offers it, starts nothing. A second press finds the bisection
 * already asked for.
 */
export async function pressBisect(kit: Pick<WebhookKit, "bisector">, context: Pressed, job: JobRecord, plan: PlanRecord): Promise<void> {
  if (!kit.bisector) return;
  const pressed = await writerPressing(context);
  if (!pressed) return;
  const offer = await kit.bisector.offered(job, plan);
  if (!offer) return;
  await kit.bisector.start({ job, plan, offer, ...pressed });
}

/** The Stop bisect button of the same check run: a writer's press stops the bisection of its regression, if one runs. */
export async function pressStopBisect(kit: Pick<WebhookKit, "bisector">, context: Pressed, job: JobRecord, plan: PlanRecord): Promise<void> {
  if (!kit.bisector) return;
  const pressed = await writerPressing(context);
  if (!pressed) return;
  await kit.bisector.stopOffered({ job, plan, writer: pressed.writer });
}
