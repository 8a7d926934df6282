import { describe, expect, it } from "@jest/globals";
import {
  checkRuns,
  closeSystemAfterEach,
  comment,
  deliver,
  dispatchedJob,
  example,
  HEAD,
  NEXT,
  push,
  REPO,
  report,
  rerun,
  runOf,
  start,
  TWO,
} from "./system.js";
import { until, untilSettled } from "../../helpers/until.js";

/**
 * kto against the parts of GitHub's contract no schema states: which of a pull request's
 * jobs a command or a re-run touches. The double refuses what GitHub would (`rejected`);
 * each test fails on any.
 */

closeSystemAfterEach();

describe("one job of a pull request", () => {
  it("is cancelled by `/kto cancel <job>` from a writer, and its siblings run on; an unknown name is answered", async () => {
    const s = await start();
    s.github.state.permissions.set(REPO, new Map([["maintainer", "write"]]));
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "both jobs dispatched");
    const board = dispatchedJob(s, 0).spec.suite === "board" ? s.github.state.dispatches[0]! : s.github.state.dispatches[1]!;
    expect(await deliver(s, "issue_comment", comment("/kto cancel board", "passer-by"))).toBe(200);
    expect(await deliver(s, "issue_comment", comment("/kto cancel kto / board"))).toBe(200);
    await until(async () => runOf(s, "board")?.conclusion === "cancelled", "the board job cancelled");
    // Cancelling a run the board job shares with its sibling (one matrix run for the jobs one
    // pass leased) would cancel the sibling too: then the board job stops at its next report.
    const unit = s.github.state.dispatches.find((d) => d !== board)!;
    expect(s.github.state.cancelled).toEqual(unit.runId === board.runId ? [] : [board.runId]);
    expect(runOf(s, "unit")?.status).not.toBe("completed");
    expect(await deliver(s, "issue_comment", comment("/kto cancel bored"))).toBe(200);
    const answer = await until(async () => checkRuns(s).find((c) => c.name === "kto / cancel"), "the answer to an unknown name");
    expect(answer).toMatchObject({
      head_sha: HEAD,
      conclusion: "neutral",
      output: { title: "/kto cancel bored by @maintainer: no waiting or running job of that name" },
    });
    expect(answer.output.summary).toContain("`unit`");
    expect(runOf(s, "unit")?.status).not.toBe("completed");
    expect(s.github.rejected).toEqual([]);
  });

  it("is re-run alone: its siblings, still running, are not cancelled", async () => {
    const s = await start();
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "both jobs dispatched");
    const unit = dispatchedJob(s, 0).spec.suite === "unit" ? dispatchedJob(s, 0) : dispatchedJob(s, 1);
    await report(s, unit.id, { kind: "started" });
    await report(s, unit.id, { kind: "finished", status: "failed", reason: "1 test failed" });
    const failed = await until(async () => (runOf(s, "unit")?.conclusion === "failure" ? runOf(s, "unit") : null), "the unit job failed");
    expect(await deliver(s, "check_run", rerun(failed))).toBe(200);
    await until(async () => s.github.state.dispatches.length === 3, "the unit job dispatched again");
    expect(dispatchedJob(s, 2).spec.suite).toBe("unit");
    await untilSettled(s);
    expect(s.github.state.cancelled).toEqual([]);
    expect(runOf(s, "board")?.conclusion).toBeUndefined();
    expect(s.github.rejected).toEqual([]);
  });

  it("re-run from an older commit runs that commit's job and leaves the head's plan be", async () => {
    const s = await start({ runners: 3 });
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "the first commit's jobs dispatched");
    await push(s, NEXT, TWO, "synchronize");
    await until(async () => checkRuns(s, HEAD).filter((c) => c.conclusion === "cancelled").length === 2, "the first commit's jobs superseded");
    await until(async () => s.github.state.dispatches.length === 4, "the head's jobs dispatched");
    const cancelled = s.github.state.cancelled.length;
    expect(await deliver(s, "check_run", rerun(runOf(s, "unit", HEAD)!))).toBe(200);
    await until(async () => s.github.state.dispatches.length === 5, "the old commit's job dispatched again");
    expect(s.github.state.dispatches[4]!.inputs.sha).toBe(HEAD);
    await untilSettled(s);
    expect(s.github.state.cancelled).toHaveLength(cancelled);
    expect(checkRuns(s, NEXT).every((c) => c.status !== "completed")).toBe(true);

    // A push supersedes that re-run too, with the rest of the pull request's older work.
    const third = "3333333333333333333333333333333333333333";
    await push(s, third, TWO, "synchronize");
    await until(
      async () =>
        checkRuns(s, HEAD)
          .filter((c) => c.name === "kto / unit")
          .at(-1)?.conclusion === "cancelled",
      "the re-run superseded",
    );
    expect(s.github.rejected).toEqual([]);
  });

  it("re-runs an older commit's check suite beside the head's plan, cancelling none of it", async () => {
    const s = await start({ runners: 4 });
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "the first commit's jobs dispatched");
    await push(s, NEXT, TWO, "synchronize");
    await until(async () => s.github.state.dispatches.length === 4, "the head's jobs dispatched");
    const cancelled = s.github.state.cancelled.length;
    const payload = example("check_suite", "rerequested", 0) as {
      check_suite: { head_sha: string; pull_requests: { number: number; head: { sha: string } }[] };
    };
    payload.check_suite.head_sha = HEAD;
    payload.check_suite.pull_requests[0]!.number = 1;
    payload.check_suite.pull_requests[0]!.head.sha = NEXT;
    expect(await deliver(s, "check_suite", { ...payload, installation: { id: 1 } })).toBe(200);
    await until(async () => s.github.state.dispatches.length === 6, "the old commit's suite dispatched again");
    expect(s.github.state.dispatches.slice(4).map((d) => d.inputs.sha)).toEqual([HEAD, HEAD]);
    await untilSettled(s);
    expect(s.github.state.cancelled).toHaveLength(cancelled);
    expect(checkRuns(s, NEXT).every((c) => c.status !== "completed")).toBe(true);
    expect(s.github.rejected).toEqual([]);
  });
});
