import type { Probot } from "probot";
import { planSeenBy, reportNotCovered, waitingJobs } from "../trust/approval.js";
import { asOctokit } from "../github/github-api.js";
import { pullRequestGroupOf, targetOf } from "./plan-target.js";
import { allowanceOf, pullRequestFacts } from "../trust/trust.js";
import { askedByWriter, pullRequestGate, writerOf } from "../trust/trust-gate.js";
import type { WebhookKit } from "./webhook-kit.js";

/** `/kto <command> [argument]` on a line of its own. */
const COMMAND = /^\/kto\s+(retest|ok-to-test|cancel)\b[ \t]*(.*)$/m;

/** A maintainer's `/kto retest`, `/kto ok-to-test` or `/kto cancel [job]` on a pull request. */
export function commentHandler(kit: WebhookKit) {
  const { reads, once, basePolicy, plans, approve, cancellation } = kit;

  return (app: Probot) => {
    app.on(
      "issue_comment.created",
      once(async (context) => {
        const { comment, issue, repository } = context.payload;
        const [, command, argument = ""] = COMMAND.exec(comment.body) ?? [];
        const login = comment.user?.login;
        if (!command || !issue.pull_request || !login) return;
        const octokit = asOctokit(context.octokit);
        const {
          owner: { login: owner },
          name,
        } = repository;
        const writer = await writerOf(octokit, owner, name, login);
        if (!writer) {
          context.log.info(
            { repo: repository.full_name, pull: issue.number, commenter: login },
            `kto: /kto ${command} from @${login}, who cannot write to ${repository.full_name}, ignored`,
          );
          return;
        }
        const groupKey = pullRequestGroupOf(repository.full_name, issue.number);
        if (command === "cancel") {
          if (argument.trim()) return cancellation.cancelJob(octokit, repository, groupKey, argument.trim(), login);
          await cancellation.cancelGroup(repository.full_name, groupKey, `cancelled by @${login}`);
          return;
        }
        const { data: pr } = await octokit.rest.pulls.get({ owner, repo: name, pull_number: issue.number });
        const latest = await reads.plans.latestPlan(groupKey);
        const seen = planSeenBy(latest, pr.head.sha, comment.created_at);
        const notCovered = () => reportNotCovered(octokit, owner, name, { command, login, writtenAt: comment.created_at, headSha: pr.head.sha });
        if (command === "ok-to-test") return seen ? approve(writer, await waitingJobs(reads, seen.id)) : notCovered();
        const policy = await basePolicy(octokit, owner, name, pr.base.ref);
        const target = targetOf(context, pr.head.sha, groupKey, undefined, pr.base.ref);
        const allowed = allowanceOf(policy, "pull_request");
        if (seen) {
          await plans.submit(
            target,
            allowed,
            askedByWriter(writer, `asked for /kto retest of ${pr.head.sha.slice(0, 7)}, a head kto had planned before the comment`),
          );
          return;
        }
        const gate = pullRequestGate(pullRequestFacts(pr, repository.full_name), policy);
        if (gate.trusted) {
          await plans.submit(target, allowed, gate);
          return;
        }
        // A head kto has not planned waits like any other, so that an approval has a plan to name.
        if (latest?.headSha !== pr.head.sha) await plans.submit(target, allowed, gate);
        await notCovered();
      }),
    );
  };
}
