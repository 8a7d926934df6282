import { describe, expect, it } from "@jest/globals";
import { checkRuns, closeSystemAfterEach, deliver, dispatchedJob, failedAtLines, HEAD, push, report, rerun, start } from "./system.js";
import { jobReport } from "../../helpers/job-report.js";
import { until, untilSettled } from "../../helpers/until.js";

/** A 3x3 matrix suite that asks for one check run (`check_run: suite`). */
const MATRIX = `version: 1
suites:
  - name: unit
    runner: docker
    image: kto/busybox:1
    command: "true"
    check_run: suite
    matrix: { arch: [x86_64, arm64, riscv64], cc: [gcc, clang, icc] }
`;
const JOBS = 9;
const FAILING = "unit (arch=arm64, cc=clang)";

closeSystemAfterEach();

describe("a suite's jobs in one check run (check_run: suite)", () => {
  it("makes one check run for a 3x3 matrix, lists all 9 jobs, concludes as the worst, and re-runs only the failed job", async () => {
    const s = await start({ runners: JOBS });
    await push(s, HEAD, MATRIX);
    await until(async () => s.github.state.dispatches.length === JOBS, "every job dispatched");
    const jobs = Array.from({ length: JOBS }, (_, i) => dispatchedJob(s, i) as ReturnType<typeof dispatchedJob> & { spec: { id: string } });
    for (const job of jobs) await report(s, job.id, { kind: "started" });
    for (const job of jobs) {
      const failing = job.spec.id === FAILING;
      await report(
        s,
        job.id,
        failing ? failedAtLines([7]) : { kind: "finished", status: "succeeded", outcome: "passed", reason: "passed", result: jobReport("unit", "succeeded") },
      );
    }
    const run = await until(async () => checkRuns(s, HEAD).find((c) => c.status === "completed"), "the suite's check run completed");
    await untilSettled(s);

    expect(checkRuns(s, HEAD)).toHaveLength(1);
    expect(s.github.requests.filter((r) => r.operationId === "checks/create")).toHaveLength(1);
    expect(run.name).toBe("kto / unit");
    const names = (await s.app.store.jobs.list()).map((j) => j.name);
    expect(names).toHaveLength(JOBS);
    for (const name of names) expect(run.output.summary).toContain(`\`${name}\``);
    expect(run.conclusion).toBe("failure");
    expect(run.output.title).toBe("9 jobs: 8 succeeded, 1 failed");
    expect(run.output.annotations).toEqual([expect.objectContaining({ path: "lib/math.c", start_line: 7 })]);

    expect(await deliver(s, "check_run", rerun(run))).toBe(200);
    await until(async () => s.github.state.dispatches.length === JOBS + 1, "the failed job dispatched again");
    await untilSettled(s);
    expect(s.github.state.dispatches).toHaveLength(JOBS + 1);
    expect((dispatchedJob(s, JOBS) as ReturnType<typeof dispatchedJob> & { spec: { id: string } }).spec.id).toBe(FAILING);
    expect(s.github.rejected).toEqual([]);
  });
});
