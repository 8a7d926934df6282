import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { RunEventClient } from "../../src/action/run-event-client.js";

const LIFETIME_MS = 5 * 60_000;

describe("the action's reports to the App", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kto-reporter-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("authenticates each report with a token fetched for it: a job longer than a token's life still reports", async () => {
    // GitHub's OIDC tokens expire after minutes; the App refuses an expired one with 401.
    let now = 0;
    let issued = 0;
    const getToken = async () => `token-${issued++}-at-${now}`;
    const answers: number[] = [];
    const app: typeof fetch = async (_url, init) => {
      const token = String((init?.headers as Record<string, string>).authorization).replace(/^Bearer /, "");
      const at = Number(/-at-(\d+)$/.exec(token)?.[1]);
      const status = now - at < LIFETIME_MS ? 200 : 401;
      answers.push(status);
      return new Response("{}", { status });
    };
    const client = new RunEventClient({
      appUrl: "https://kto.example.com",
      jobId: "o/r@abc/unit",
      attempt: 1,
      reportFile: join(dir, "report.json"),
      baseDelayMs: 0,
      fetch: app,
      getToken,
    });
    expect(await client.send({ kind: "started" })).toBe(true);
    now += 2 * 60_000;
    expect(await client.send({ kind: "heartbeat" })).toBe(true);
    now += 20 * 60_000; // a long kernel test
    expect(await client.send({ kind: "finished", status: "succeeded" })).toBe(true);
    expect(answers).toEqual([200, 200, 200]);
    expect(issued).toBe(3);
  });

  it("stops the job when the App answers that it is no longer this run's (one job of a batch cancelled), and not otherwise", async () => {
    const answers = [
      { state: "running", applied: true, stop: false },
      { state: "cancelled", applied: true, stop: true },
    ];
    const app: typeof fetch = async () => new Response(JSON.stringify(answers.shift()), { status: 200 });
    const stops: string[] = [];
    const client = new RunEventClient({
      appUrl: "https://kto.example.com",
      jobId: "o/r@abc/unit",
      attempt: 1,
      reportFile: join(dir, "report.json"),
      baseDelayMs: 0,
      fetch: app,
      getToken: async () => "token",
      onStop: (state) => stops.push(state),
    });
    await client.send({ kind: "heartbeat" });
    expect(stops).toEqual([]);
    await client.send({ kind: "heartbeat" });
    expect(stops).toEqual(["cancelled"]);
  });
});
