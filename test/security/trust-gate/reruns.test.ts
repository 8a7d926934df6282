import { describe, expect, it } from "@jest/globals";
import {
  app,
  checkRunPressed,
  checkRuns,
  comment,
  deliver,
  dispatchedShas,
  example,
  FIRST,
  FORK,
  github,
  held,
  labeled,
  NUMBER,
  pullRequest,
  REPO,
  SECOND,
  stampAfterNow,
  suiteRerequested,
  useAppUnderAttack,
} from "./attacks.js";
import { until, untilSettled } from "../../helpers/until.js";

/** Re-runs and run requests through the gate: a held commit runs again only when a writer asks. */

describe("the trust gate against a fork's author", () => {
  useAppUnderAttack();

  it("gates Re-run all checks on a fork's held commit: pressed by someone who cannot write it waits, by a writer it runs", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    await deliver("check_suite", suiteRerequested(FIRST, "stranger"));
    await until(async () => (await app.store.plans.planIds()).length === 2, "the re-run planned");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect((await app.store.jobs.countsByState()).awaiting_approval).toBe(1);
    // Found through kto's plan of the commit: the re-run is the pull request's, and waits as its head does.
    const [waiting] = await app.store.jobs.list({ states: ["awaiting_approval"] });
    expect(waiting?.reason).toBe(`Waiting for approval: it comes from the fork ${FORK}; @stranger, who asked for the re-run, cannot write to ${REPO}.`);
    expect((await app.store.plans.plan(waiting!.planId))?.groupKey).toBe(`pr:${REPO}#${NUMBER}`);

    await deliver("check_suite", suiteRerequested(FIRST, "writer"));
    await until(async () => github.state.dispatches.length === 1, "the writer's re-run dispatched");
    expect(dispatchedShas()).toEqual([FIRST]);
    const asked = github.requests.filter((r) => r.operationId === "repos/get-collaborator-permission-level").map((r) => r.params.username);
    expect(asked).toEqual(["stranger", "writer"]);
    expect(github.rejected).toEqual([]);
  });

  it("gates Re-run all checks on a commit kto knows nothing of: only a writer's press runs it", async () => {
    await deliver("check_suite", suiteRerequested(SECOND, "reader"));
    await until(async () => (await app.store.plans.planIds()).length === 1, "the re-run planned");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    const [waiting] = await app.store.jobs.list({ states: ["awaiting_approval"] });
    expect(waiting?.reason).toContain(`kto knows of no pull request or plan of ${SECOND.slice(0, 7)}`);
    await deliver("check_suite", suiteRerequested(SECOND, "maintainer"));
    await until(async () => github.state.dispatches.length === 1, "the maintainer's re-run dispatched");
    expect(dispatchedShas()).toEqual([SECOND]);
    expect(github.rejected).toEqual([]);
  });

  it("gates a job's Re-run of a fork's approved plan again: pressed by someone who cannot write, the job waits for approval", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    await deliver("pull_request", labeled(FIRST, "kto/ok-to-test", "maintainer"));
    await until(async () => github.state.dispatches.length === 1, "the labelled commit dispatched");
    await deliver("issue_comment", comment("/kto cancel", "maintainer", "MEMBER", await stampAfterNow()));
    const run = await until(
      async () => checkRuns().find((c) => c.name === "kto / unit" && c.conclusion === "cancelled"),
      "the job's check run completed as cancelled",
    );
    let planned = (await app.store.plans.planIds()).length;
    for (const [action, sender] of [
      ["rerequested", "stranger"],
      ["requested_action", "reader"],
    ] as const) {
      await deliver("check_run", checkRunPressed(action, run, sender));
      planned += 1;
      await until(async () => (await app.store.plans.planIds()).length === planned, `the re-run ${action} by ${sender} planned`);
    }
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([FIRST]);
    const [waiting] = await app.store.jobs.list({ states: ["awaiting_approval"] });
    expect(waiting?.reason).toBe(`Waiting for approval: it comes from the fork ${FORK}; @reader, who asked for the re-run, cannot write to ${REPO}.`);
    await until(
      async () =>
        checkRuns().find((c) => c.name === "kto / approval" && c.conclusion === "action_required" && c.output.summary.includes("the same Re-run button")),
      "the held re-run's approval check run",
    );

    await deliver("check_run", checkRunPressed("rerequested", run, "writer"));
    await until(async () => github.state.dispatches.length === 2, "the writer's re-run dispatched");
    expect(dispatchedShas()).toEqual([FIRST, FIRST]);
    expect(github.rejected).toEqual([]);
  });

  it("records why a run request passes the gate: GitHub sends one only for someone who can write", async () => {
    github.state.refs.set(`${REPO}@master`, FIRST);
    const dispatch = example("repository_dispatch", "on-demand-test", 0) as Record<string, unknown> & { sender: { login: string } };
    const pullRequestEvent = example("pull_request", "opened") as { repository: unknown; installation: unknown };
    Object.assign(dispatch, {
      action: "kto-run",
      client_payload: { ref: "master" },
      repository: pullRequestEvent.repository,
      installation: pullRequestEvent.installation,
    });
    dispatch.sender.login = "release-bot";
    await deliver("repository_dispatch", dispatch);
    await until(async () => github.state.dispatches.length === 1, "the requested run dispatched");
    const [planId] = await app.store.plans.planIds();
    expect(await app.store.plans.plan(planId!)).toMatchObject({
      trusted: true,
      gateReason: "@release-bot asked by repository_dispatch, and GitHub accepts a repository_dispatch only from a token that can write to the repository",
    });
    expect(github.rejected).toEqual([]);
  });
});
