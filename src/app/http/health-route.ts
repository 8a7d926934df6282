import type { ServerResponse } from "node:http";
import type { Logger } from "../../orchestrator/logger.js";
import type { OrchestratorService } from "../../orchestrator/service.js";
import { send } from "./http-json.js";

/** Answers /kto/health. Public, for load balancers and probes: states and counts, never names or errors (those go to the log). */
export async function serveHealth(
  service: Pick<OrchestratorService, "health" | "reads">,
  deps: { pollMs: number; now: () => number; rateLimited?: () => Promise<number>; refusedRunners?: () => number; log: Logger },
  response: ServerResponse,
): Promise<void> {
  const { now } = deps;
  const health = await service.health().catch((err: unknown) => {
    deps.log.error({ err }, "reading the orchestrator's health failed; /kto/health answers 503");
    return null;
  });
  if (!health) return send(response, 503, { store: "failing", ready: false });
  const ticking = health.lastTickAt !== null && now() - health.lastTickAt < deps.pollMs * 3 + 5_000;
  const github = health.effectFailuresInARow >= 3 ? "failing" : "ok";
  const ready = health.status === "running" && (ticking || !health.leader) && github === "ok";
  // A rate limit is not unreadiness: the updates wait, are counted here, and land later.
  const finals = await service.reads.outbox.finalReportBacklog();
  send(response, ready ? 200 : 503, {
    ...health,
    store: "ok",
    monitorTicking: ticking,
    github,
    githubRateLimited: (await deps.rateLimited?.()) ?? 0,
    // Runners whose labels break the label rule: kto gives them no job (the log names them).
    runnersRefused: deps.refusedRunners?.() ?? 0,
    finalCheckRunsPending: finals.count,
    finalCheckRunsOldestMs: finals.oldestAt === null ? null : Math.max(0, now() - finals.oldestAt),
    ready,
  });
}
