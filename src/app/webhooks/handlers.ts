import type { Probot } from "probot";
import { commentHandler } from "./comment-handler.js";
import { installationHandlers } from "./installation-handlers.js";
import { pullRequestHandlers } from "./pull-request-handlers.js";
import { pushHandler } from "./push-handler.js";
import { rerunHandlers } from "./rerun-handlers.js";
import { runRequestHandlers } from "./run-request-handlers.js";
import { webhookKit, type HandlerDeps } from "./webhook-kit.js";
import { workflowJobHandler } from "./workflow-job-handler.js";

export { POLICY_TTL_MS } from "../trust/base-policy.js";
export type { HandlerDeps } from "./webhook-kit.js";

/** The Probot app: GitHub events in, plans and approvals to the orchestrator out. */
export function ktoHandlers(deps: HandlerDeps) {
  const kit = webhookKit(deps);
  const handlers = [
    pullRequestHandlers(kit),
    pushHandler(kit),
    commentHandler(kit),
    runRequestHandlers(kit),
    rerunHandlers(kit),
    workflowJobHandler(kit),
    installationHandlers(kit),
  ];

  return (app: Probot) => {
    // A failed handler is logged with what to look at and counted; it never stops the App.
    app.onError(async (error) => {
      const event = (error as { event?: { name?: string } }).event?.name ?? "webhook";
      deps.onError?.(event);
      app.log.error(
        { err: error, event },
        `kto: handling ${event} failed; GitHub redelivers it on request (the App's Advanced settings), and /kto/health shows whether GitHub is reachable`,
      );
    });
    for (const register of handlers) register(app);
  };
}
