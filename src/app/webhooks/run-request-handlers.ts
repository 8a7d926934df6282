import type { Context, Probot } from "probot";
import { asOctokit } from "../github/github-api.js";
import { dispatchGroupOf, targetOf } from "./plan-target.js";
import { parseRunRequest, RUN_REQUEST_WORKFLOW_PATH, RunRequestError, shortRef, type RunRequest } from "./run-request.js";
import { allowanceOf } from "../trust/trust.js";
import { dispatchGate } from "../trust/trust-gate.js";
import type { WebhookKit } from "./webhook-kit.js";

/** Runs asked for by repository_dispatch or by the "Run kto" workflow's workflow_dispatch. */
export function runRequestHandlers(kit: WebhookKit) {
  const { once, basePolicy, plans } = kit;

  /** A run request names a ref, suites and a priority; a malformed one is logged and changes nothing. */
  async function runRequested(
    context: Context<"repository_dispatch" | "workflow_dispatch">,
    event: "repository_dispatch" | "workflow_dispatch",
    source: string,
    value: unknown,
  ): Promise<void> {
    let request: RunRequest;
    try {
      request = parseRunRequest(source, value);
    } catch (error) {
      if (!(error instanceof RunRequestError)) throw error;
      context.log.warn({ repo: context.payload.repository.full_name }, `kto: ignored ${error.message}`);
      return;
    }
    const repository = context.payload.repository;
    const ref = shortRef(request.ref ?? repository.default_branch);
    const { data: commit } = await context.octokit.rest.repos.getCommit({ owner: repository.owner.login, repo: repository.name, ref });
    const policy = await basePolicy(asOctokit(context.octokit), repository.owner.login, repository.name, repository.default_branch);
    const gate = dispatchGate(event, context.payload.sender.login);
    await plans.submit(targetOf(context, commit.sha, dispatchGroupOf(repository.full_name, ref), undefined, ref), allowanceOf(policy, "dispatch"), gate, {
      suites: request.suites,
      priority: request.priority,
    });
  }

  return (app: Probot) => {
    app.on(
      "repository_dispatch",
      once(async (context) => {
        if (context.payload.action !== "kto-run") return;
        await runRequested(context, "repository_dispatch", "repository_dispatch client_payload", context.payload.client_payload);
      }),
    );

    app.on(
      "workflow_dispatch",
      once(async (context) => {
        // kto's own runner dispatches come back here too; only the "Run kto" workflow asks for a plan.
        if (context.payload.workflow !== RUN_REQUEST_WORKFLOW_PATH) return;
        // An input named ref tests another branch or tag than the one the workflow ran from.
        const inputs = (context.payload.inputs ?? {}) as Record<string, unknown>;
        await runRequested(context, "workflow_dispatch", `${RUN_REQUEST_WORKFLOW_PATH} inputs`, { ...inputs, ref: inputs.ref || context.payload.ref });
      }),
    );
  };
}
