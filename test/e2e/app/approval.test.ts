import { describe, expect, it } from "@jest/globals";
import { app, checkRuns, deliver, example, expectStatusMatchesStore, github, REPO, SHA, useAppUnderTest } from "./app-under-test.js";
import { until, untilSettled } from "../../helpers/until.js";
import { shownCheckRun } from "../../helpers/github-api-double.js";

/** A fork's pull request held until a maintainer approves it, by comment or label; /kto commands from maintainers only. */

describe("the kto GitHub App against a GitHub API double", () => {
  useAppUnderTest();

  it("holds a fork's pull request until a maintainer comments /kto ok-to-test", async () => {
    const pr = example("pull_request", "opened") as {
      pull_request: { head: { repo: { full_name: string } }; author_association: string; number: number };
      installation?: unknown;
    };
    pr.pull_request.head.repo.full_name = "stranger/Hello-World";
    pr.pull_request.author_association = "CONTRIBUTOR";
    expect(await deliver("pull_request", pr)).toBe(200);
    // One check run asks for the plan's approval, however many jobs wait.
    await until(
      async () => checkRuns().length === 1 && checkRuns()[0]!.name === "kto / approval" && checkRuns()[0]!.conclusion === "action_required",
      "the action_required approval check run",
    );
    expect(checkRuns()[0]!.output.summary).toContain("it comes from the fork stranger/Hello-World");
    expect(github.state.dispatches).toHaveLength(0);

    github.state.pulls.set(`${REPO}#${pr.pull_request.number}`, { number: pr.pull_request.number, head: { sha: SHA } });
    const comment = example("issue_comment", "created") as {
      comment: { body: string; author_association: string; created_at: string };
      issue: { number: number; pull_request?: unknown };
      installation?: unknown;
    };
    comment.installation = (pr as { installation?: unknown }).installation;
    comment.comment.body = "/kto ok-to-test";
    comment.comment.author_association = "OWNER";
    // Written after kto held the commit: a comment approves only a head pushed before it.
    comment.comment.created_at = new Date().toISOString();
    comment.issue.number = pr.pull_request.number;
    comment.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/${pr.pull_request.number}` };
    expect(await deliver("issue_comment", comment)).toBe(200);
    await until(async () => github.state.dispatches.length === 1, "the approved job dispatched");
    // The hold keeps its conclusion, as GitHub does; the commit shows a newer approval check run, approved.
    await untilSettled({ app, github });
    expect(
      checkRuns()
        .filter((c) => c.name === "kto / approval")
        .map((c) => c.conclusion),
    ).toEqual(["action_required", "success"]);
    expect(shownCheckRun(github.state, SHA, "kto / approval")).toMatchObject({ conclusion: "success" });
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });

  it("approves a fork's pull request by label, and takes /kto retest and /kto cancel from maintainers only", async () => {
    const pr = example("pull_request", "opened") as {
      pull_request: { head: { repo: { full_name: string } }; author_association: string; number: number; labels: { name: string }[] };
      installation?: unknown;
      label?: unknown;
    };
    pr.pull_request.head.repo.full_name = "stranger/Hello-World";
    pr.pull_request.author_association = "NONE";
    expect(await deliver("pull_request", pr)).toBe(200);
    await until(async () => checkRuns().length === 1 && checkRuns()[0]!.conclusion === "action_required", "the held plan's approval check run");
    const labeled = structuredClone(pr) as typeof pr & { action: string };
    labeled.action = "labeled";
    labeled.label = { id: 1, name: "kto/ok-to-test", color: "00ff00", default: false, description: null, node_id: "x", url: "https://api.github.com/x" };
    expect(await deliver("pull_request", labeled)).toBe(200);
    await until(async () => github.state.dispatches.length === 1, "the labelled pull request dispatched");

    github.state.pulls.set(`${REPO}#${pr.pull_request.number}`, { number: pr.pull_request.number, head: { sha: SHA }, base: { ref: "master" } });
    github.state.permissions.set(REPO, new Map([["maintainer", "write"]]));
    // Whether a commenter is a maintainer is the API's answer (write access), not the comment's author_association.
    const comment = (body: string, login: string) => {
      const c = example("issue_comment", "created") as {
        comment: { body: string; created_at: string; user: { login: string } };
        issue: { number: number; pull_request?: unknown };
        installation?: unknown;
      };
      c.comment.body = body;
      c.comment.user.login = login;
      c.comment.created_at = new Date().toISOString();
      c.issue.number = pr.pull_request.number;
      c.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/${pr.pull_request.number}` };
      c.installation = pr.installation;
      return c;
    };
    expect(await deliver("issue_comment", comment("/kto cancel", "passer-by"))).toBe(200);
    await untilSettled({ app, github });
    expect(github.state.cancelled).toEqual([]); // not a maintainer: nothing happens
    expect(await deliver("issue_comment", comment("/kto cancel", "maintainer"))).toBe(200);
    await until(async () => github.state.cancelled.length === 1, "the run cancelled");
    expect(await deliver("issue_comment", comment("/kto retest", "maintainer"))).toBe(200);
    await until(async () => github.state.dispatches.length === 2, "the retest dispatched");
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });
});
