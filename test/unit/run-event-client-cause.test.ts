import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, jest } from "@jest/globals";
import { RunEventClient } from "../../src/action/run-event-client.js";

describe("the action's report to an App it cannot reach", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kto-reporter-"));
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it("warns with what failed beneath fetch's own message, and keeps the report in its file", async () => {
    const written: string[] = [];
    jest.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const unreachable: typeof fetch = async () => {
      throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 10.0.0.7:443") });
    };
    const reportFile = join(dir, "report.json");
    const publisher = new RunEventClient({
      appUrl: "https://kto.example.com",
      jobId: "o/r@abc/unit",
      attempt: 1,
      reportFile,
      attempts: 2,
      baseDelayMs: 0,
      fetch: unreachable,
      getToken: async () => "token",
    });
    expect(await publisher.send({ kind: "finished", status: "succeeded" })).toBe(false);
    expect(written.join("")).toContain(
      `::warning::kto App unreachable for the finished report (fetch failed: connect ECONNREFUSED 10.0.0.7:443); the report is kept in ${reportFile}`,
    );
  });
});
