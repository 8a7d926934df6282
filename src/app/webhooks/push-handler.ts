import type { Probot } from "probot";
import { asOctokit } from "../github/github-api.js";
import { allowanceOf } from "../trust/trust.js";
import { pushGate } from "../trust/trust-gate.js";
import { pushGroupOf, targetOf, type EventContext } from "./plan-target.js";
import type { WebhookKit } from "./webhook-kit.js";

const BRANCH = "refs/heads/";

/**
 * A push to the default branch is planned as the base's `triggers.push` selects: its
 * results are what later pull requests are compared with. Pushes elsewhere, tags and
 * deleted branches plan nothing (a pull request's pushes come as pull_request events).
 */
export function pushHandler(kit: WebhookKit) {
  const { once, basePolicy, plans } = kit;
  return (app: Probot) => {
    app.on(
      "push",
      once(async (context) => {
        const { ref, after, deleted, repository, sender } = context.payload;
        if (deleted || !ref.startsWith(BRANCH) || /^0+$/.test(after)) return;
        const branch = ref.slice(BRANCH.length);
        if (branch !== repository.default_branch) return;
        // `once` has checked the trusted fields: the repository's owner is there, whatever the push event's type allows.
        const event = context as unknown as EventContext;
        const policy = await basePolicy(asOctokit(context.octokit), repository.full_name.split("/")[0]!, repository.name, branch);
        await plans.submit(
          targetOf(event, after, pushGroupOf(repository.full_name, branch), undefined, branch),
          allowanceOf(policy, "push"),
          pushGate(sender?.login ?? "unknown"),
        );
      }),
    );
  };
}
