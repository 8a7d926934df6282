import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { buildPlan, ConfigError, parseConfig } from "../../src/config/index.js";
import { DockerExecutor } from "../../src/runners/docker-executor.js";
import { bootGuest } from "../../src/runners/qemu-boot.js";
import { job, qemuJob, withTempDir } from "../helpers/job.js";

const THIRTY_DAYS_MS = 30 * 86_400_000;

function messagesOf(text: string): string[] {
  try {
    buildPlan(parseConfig(text, ".github/kto.yml"));
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split("\n");
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

describe("durations a timer and GitHub's 5-day job limit can hold", () => {
  it("refuses a timeout that leaves its run's 30 minutes outside 5 days, and an idle_timeout over 1d, in a suite or the defaults, at the value", () => {
    const text = `version: 1
defaults: { timeout: 8d, idle_timeout: 25h }
suites:
  - { name: d, runner: docker, image: i, command: x, timeout: 30d }
  - { name: q, runner: qemu, kernel: k, command: x, timeout: 4d23h31m, idle_timeout: 2d }
`;
    expect(messagesOf(text)).toEqual([
      ".github/kto.yml:2:22: defaults.timeout: at most 4d23h30m, got 8d",
      ".github/kto.yml:2:40: defaults.idle_timeout: at most 1d, got 25h",
      ".github/kto.yml:4:63: suites[0].timeout: at most 4d23h30m, got 30d",
      ".github/kto.yml:5:62: suites[1].timeout: at most 4d23h30m, got 4d23h31m",
      ".github/kto.yml:5:86: suites[1].idle_timeout: at most 1d, got 2d",
    ]);
  });

  it("accepts the caps themselves, however they are written", () => {
    const plan = buildPlan(
      parseConfig(`version: 1
suites:
  - { name: q, runner: qemu, kernel: k, command: x, timeout: 119h30m, idle_timeout: 86400 }
`),
    );
    expect(plan.jobs[0]).toMatchObject({ timeoutMs: (5 * 24 * 60 - 30) * 60_000, idleTimeoutMs: 86_400_000 });
  });

  it("refuses a duration that rounds to no time at all", () => {
    expect(messagesOf("version: 1\nsuites:\n  - { name: d, runner: docker, image: i, command: x, timeout: 0.0001 }\n")).toEqual([
      ".github/kto.yml:3:63: suites[0].timeout: expected a duration like 20m",
    ]);
  });
});

describe("a job whose timeout is past what setTimeout holds still runs to its end", () => {
  // Node fires a timer of more than 2^31-1 ms after 1 ms, which would end these jobs at once.
  it("in Docker", async () => {
    await withTempDir(async (dir) => {
      const execution = await new DockerExecutor().execute(job({ id: "long-timeout", command: "sleep 1; echo done", timeoutMs: THIRTY_DAYS_MS }), {
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(execution).toMatchObject({ exitCode: 0, timedOut: false, cancelled: false });
      expect(execution.stdout.data.toString()).toBe("done\n");
    });
  });

  it.each([
    ["timeout", { timeoutMs: THIRTY_DAYS_MS, idleTimeoutMs: 60_000 }],
    ["idle timeout", { timeoutMs: 60_000, idleTimeoutMs: THIRTY_DAYS_MS }],
  ])("in QEMU, with a long %s", async (_what, limits) => {
    await withTempDir(async (dir) => {
      // A stand-in for qemu that prints nothing for a second, then powers off as a guest does.
      const execution = await bootGuest({
        job: qemuJob({ id: "long-timeout", idleTimeoutMs: limits.idleTimeoutMs }),
        context: { workspace: dir, jobDir: dir },
        binary: "/bin/sh",
        args: ["-c", "sleep 1; echo 'Run /init as init process'"],
        boot: { path: "fast", accelerator: "tcg", machine: "q35", detail: "a stand-in for qemu" },
        accelerator: "tcg",
        nonce: null,
        resultsDir: dir,
        timeoutMs: limits.timeoutMs,
      });
      expect(execution).toMatchObject({ timedOut: false, cancelled: false });
      // Neither timed out nor hung: the console outcome is the exit's own.
      expect(execution.outcome).toBeUndefined();
    });
  });
});
