import { describe, expect, it } from "@jest/globals";
import { GHES_VERSIONS } from "../../helpers/github-api-double.js";
import { closeSystemAfterEach, dispatchedJob, HEAD, push, report, runOf, start } from "./system.js";
import { until } from "../../helpers/until.js";

/**
 * kto against the parts of GitHub's contract no schema states: the GitHub Enterprise Server
 * descriptions, and the inputs a dispatch may carry. The double refuses what GitHub would
 * (`rejected`); each test fails on any.
 */

closeSystemAfterEach();

describe("kto on GitHub Enterprise Server", () => {
  it.each(GHES_VERSIONS)("on GHES %s dispatches without return_run_details, finds each run by its run-name and reports it", async (version) => {
    const s = await start({ ghesVersion: version });
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "both jobs dispatched");
    const bodies = s.github.requests.filter((r) => r.operationId === "actions/create-workflow-dispatch").map((r) => r.body);
    expect(bodies.every((b) => !("return_run_details" in b) && Object.keys(b.inputs as object).length <= 10)).toBe(true);
    const unit = dispatchedJob(s, 0).spec.suite === "unit" ? dispatchedJob(s, 0) : dispatchedJob(s, 1);
    await report(s, unit.id, { kind: "started" });
    await until(async () => runOf(s, "unit")?.status === "in_progress", "the unit check run in progress");
    expect(s.github.requests.every((r) => r.server.kind === "ghes" && r.server.version === version)).toBe(true);
    expect(s.github.rejected).toEqual([]);
  });
});

describe("a dispatch GitHub would refuse is not sent", () => {
  it("fails the job, naming the size, when its inputs come to more than GitHub's 65,535 characters", async () => {
    const s = await start();
    // Within the config's 60 KiB a job, but every quote is escaped once more in the inputs.
    const quotes = '"'.repeat(20_000);
    await push(s, HEAD, `version: 1\nsuites:\n  - name: unit\n    runner: docker\n    image: kto/busybox:1\n    command: '${quotes}'\n`);
    const run = await until(async () => (runOf(s, "unit")?.status === "completed" ? runOf(s, "unit") : null), "the check run completed");
    expect(run.conclusion).toBe("failure");
    expect(run.output.summary).toMatch(/inputs come to \d+ characters as JSON; GitHub takes at most 65,535/);
    expect(s.github.requests.filter((r) => r.operationId === "actions/create-workflow-dispatch")).toEqual([]);
    expect(s.github.rejected).toEqual([]);
  });
});
