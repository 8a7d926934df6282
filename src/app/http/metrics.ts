import type { ServerResponse } from "node:http";
import client from "prom-client";
import type { OrchestratorService } from "../../orchestrator/service.js";
import { send } from "./http-json.js";

export interface KtoMetrics {
  /** Reports received from runners, by what became of them. */
  reports: client.Counter<"result">;
  /** Errors handling requests and webhooks, by route. */
  errors: client.Counter<"route">;
  /** Answers /kto/metrics with the orchestrator's state as it is now. */
  serve(response: ServerResponse): Promise<void>;
}

export function ktoMetrics(
  service: Pick<OrchestratorService, "effectTotals" | "health" | "reads" | "status">,
  deps: { now: () => number; rateLimited?: () => Promise<number> },
): KtoMetrics {
  const { now } = deps;
  const registry = new client.Registry();
  const jobs = new client.Gauge({ name: "kto_jobs", help: "Jobs by state", labelNames: ["state"], registers: [registry] });
  const capacity = new client.Gauge({ name: "kto_runner_slots", help: "Runner slots by state", labelNames: ["kind"], registers: [registry] });
  const reports = new client.Counter({ name: "kto_reports_total", help: "Reports received from runners", labelNames: ["result"], registers: [registry] });
  const errors = new client.Counter({ name: "kto_errors_total", help: "Errors handling requests and webhooks", labelNames: ["route"], registers: [registry] });
  const deliveryFailures = new client.Counter({
    name: "kto_outbox_delivery_failures_total",
    help: "Side effects (GitHub calls) that failed and were retried",
    registers: [registry],
  });
  const pending = new client.Gauge({ name: "kto_outbox_pending", help: "Side effects not yet delivered", registers: [registry] });
  const backlog = new client.Gauge({
    name: "kto_final_check_runs_pending",
    help: "Finished jobs whose last check run update has not landed yet",
    registers: [registry],
  });
  const backlogAge = new client.Gauge({
    name: "kto_final_check_runs_oldest_seconds",
    help: "How long the oldest of those updates has waited (0 when none)",
    registers: [registry],
  });
  const limited = new client.Gauge({
    name: "kto_github_rate_limited_installations",
    help: "Installations whose GitHub requests wait for a rate limit",
    registers: [registry],
  });
  const deferrals = new client.Counter({
    name: "kto_outbox_deferrals_total",
    help: "Side effects put off because GitHub asked to wait (rate limits)",
    registers: [registry],
  });
  const merged = client.Registry.merge([registry, service.status.registry]);
  let countedDeferrals = 0;
  let countedFailures = 0;
  async function serve(response: ServerResponse): Promise<void> {
    const snapshot = await service.status.snapshot();
    for (const [state, n] of Object.entries(snapshot.counts)) jobs.set({ state }, n);
    capacity.set(
      { kind: "total" },
      snapshot.runners.reduce((sum, e) => sum + e.capacity, 0),
    );
    capacity.set(
      { kind: "busy" },
      snapshot.runners.reduce((sum, e) => sum + e.busy, 0),
    );
    const totals = service.effectTotals();
    deliveryFailures.inc(totals.failures - countedFailures);
    countedFailures = totals.failures;
    pending.set((await service.health()).outboxPending);
    const finals = await service.reads.outbox.finalReportBacklog();
    backlog.set(finals.count);
    backlogAge.set(finals.oldestAt === null ? 0 : Math.max(0, now() - finals.oldestAt) / 1000);
    limited.set((await deps.rateLimited?.()) ?? 0);
    deferrals.inc(totals.deferrals - countedDeferrals);
    countedDeferrals = totals.deferrals;
    // The wait, start and run histograms are observed by the orchestrator as jobs move.
    send(response, 200, await merged.metrics(), merged.contentType);
  }

  return { reports, errors, serve };
}
