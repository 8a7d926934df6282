import { describe, expect, it } from "@jest/globals";
import {
  app,
  checkRuns,
  comment,
  deliver,
  dispatchedShas,
  FIRST,
  github,
  held,
  labeled,
  pullRequest,
  REPO,
  SECOND,
  shownApproval,
  stampAfterNow,
  UNIT,
  useAppUnderAttack,
} from "./attacks.js";
import { until, untilSettled } from "../../helpers/until.js";

/** Approval by label and by /kto command: only from those who can write, and only of the commit they saw. */

describe("the trust gate against a fork's author", () => {
  useAppUnderAttack();

  it("takes a label as the approval of the commit it is added to: a later commit waits, even after a close and reopen with the label still on", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    await deliver("pull_request", labeled(FIRST, "kto/ok-to-test", "maintainer"));
    await until(async () => github.state.dispatches.length === 1, "the labelled commit dispatched");
    await deliver("pull_request", pullRequest("synchronize", SECOND, ["kto/ok-to-test"]));
    await held(SECOND);
    await deliver("pull_request", pullRequest("closed", SECOND, ["kto/ok-to-test"]));
    await deliver("pull_request", pullRequest("reopened", SECOND, ["kto/ok-to-test"]));
    await until(async () => (await app.store.plans.planIds()).length === 3, "the reopened pull request planned");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([FIRST]);
    expect((await app.store.jobs.countsByState()).awaiting_approval).toBe(1);
    const [reopened] = await app.store.jobs.list({ states: ["awaiting_approval"] });
    expect(reopened?.reason).toContain("kto/ok-to-test approves only the commit it is added to");
    // GitHub shows the newest check run of a name: the approved commit's says so, the held one's still asks.
    expect(shownApproval(FIRST)).toMatchObject({ status: "completed", conclusion: "success" });
    expect(shownApproval(SECOND)).toMatchObject({ status: "completed", conclusion: "action_required" });
    expect(github.rejected).toEqual([]);
  });

  it("approves on exactly the configured label, added by someone who can write to the repository", async () => {
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `${UNIT}trust:\n  ok_to_test_label: ci/approved\n`);
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    await deliver("pull_request", labeled(FIRST, "needs-ok-to-test", "maintainer"));
    await deliver("pull_request", labeled(FIRST, "kto/ok-to-test", "maintainer", ["needs-ok-to-test"]));
    // Triage can label but not write: its label is not an approval.
    await deliver("pull_request", labeled(FIRST, "ci/approved", "triager", ["needs-ok-to-test", "kto/ok-to-test"]));
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect((await app.store.jobs.countsByState()).awaiting_approval).toBe(1);
    await deliver("pull_request", labeled(FIRST, "ci/approved", "writer", ["needs-ok-to-test", "kto/ok-to-test"]));
    await until(async () => github.state.dispatches.length === 1, "the commit approved by a writer's label dispatched");
    expect(dispatchedShas()).toEqual([FIRST]);
    const asked = github.requests.filter((r) => r.operationId === "repos/get-collaborator-permission-level").map((r) => r.params.username);
    expect(asked).toEqual(["triager", "writer"]);
    expect(github.rejected).toEqual([]);
  });

  it("takes /kto commands from those the API says can write, whatever the comment's author_association", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    const written = await stampAfterNow();
    // MEMBER is any member of the organisation; COLLABORATOR includes read-only collaborators.
    await deliver("issue_comment", comment("/kto ok-to-test", "org-member", "MEMBER", written));
    await deliver("issue_comment", comment("/kto ok-to-test", "reader", "COLLABORATOR", written));
    await deliver("issue_comment", comment("/kto retest", "reader", "COLLABORATOR", written));
    await deliver("issue_comment", comment("/kto retest", "triager", "MEMBER", written));
    await deliver("issue_comment", comment("/kto cancel", "org-member", "MEMBER", written));
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect(await app.store.plans.planIds()).toHaveLength(1);
    expect((await app.store.jobs.countsByState()).awaiting_approval).toBe(1);
    // The maintain role reads as write in the API's legacy permission.
    await deliver("issue_comment", comment("/kto ok-to-test", "maintainer", "CONTRIBUTOR", written));
    await until(async () => github.state.dispatches.length === 1, "the commit approved by a maintainer dispatched");
    expect(dispatchedShas()).toEqual([FIRST]);
    expect(github.rejected).toEqual([]);
  });

  it("binds /kto ok-to-test to the head the maintainer saw: a commit pushed after the comment waits, and says why", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    // The maintainer reviews the first commit and writes the comment; the author pushes
    // again before kto reads it.
    const written = await stampAfterNow();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await deliver("pull_request", pullRequest("synchronize", SECOND));
    await held(SECOND);
    await deliver("issue_comment", comment("/kto ok-to-test", "maintainer", "MEMBER", written));
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect((await app.store.jobs.countsByState()).awaiting_approval).toBe(1);
    const notice = checkRuns().find((c) => c.name === "kto / ok-to-test");
    expect(notice).toMatchObject({ head_sha: SECOND, status: "completed", conclusion: "neutral" });
    expect(notice?.output.summary).toContain(`${SECOND} was pushed after`);
    // The notice is a check run of its own: the commit's approval check run still asks, and the
    // superseded commit's says it will not run.
    expect(shownApproval(SECOND)).toMatchObject({ conclusion: "action_required" });
    expect(shownApproval(FIRST)).toMatchObject({ conclusion: "cancelled" });

    // Reviewed and approved again, after the push: it runs.
    await deliver("issue_comment", comment("/kto ok-to-test", "maintainer", "MEMBER", await stampAfterNow()));
    await until(async () => github.state.dispatches.length === 1, "the second commit approved");
    expect(dispatchedShas()).toEqual([SECOND]);
    await untilSettled({ app, github });
    expect(shownApproval(SECOND)).toMatchObject({ conclusion: "success" });
    expect(github.rejected).toEqual([]);
  });

  it("binds /kto retest to the head the maintainer saw: a commit pushed after the comment is not run", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    const written = await stampAfterNow();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await deliver("pull_request", pullRequest("synchronize", SECOND));
    await held(SECOND);
    await deliver("issue_comment", comment("/kto retest", "writer", "COLLABORATOR", written));
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect(checkRuns().find((c) => c.name === "kto / retest")).toMatchObject({ head_sha: SECOND, conclusion: "neutral" });
    expect(shownApproval(SECOND)).toMatchObject({ conclusion: "action_required" });

    await deliver("issue_comment", comment("/kto retest", "writer", "COLLABORATOR", await stampAfterNow()));
    await until(async () => github.state.dispatches.length === 1, "the second commit retested");
    expect(dispatchedShas()).toEqual([SECOND]);
    // The writer's retest runs the commit in a newer plan, without a hold: the held plan's end says so.
    await untilSettled({ app, github });
    expect(shownApproval(SECOND)).toMatchObject({ conclusion: "success" });
    expect(github.rejected).toEqual([]);
  });
});
