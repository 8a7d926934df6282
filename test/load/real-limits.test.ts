import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createsContent, GITHUB_LIMITS, pointsOf } from "../helpers/github-double/limits.js";
import { LocalSystem } from "../helpers/local-system.js";
import { SimulatedRunners } from "../helpers/simulated-runners.js";
import { callsTable } from "../helpers/api-calls.js";

// The load test against GitHub's real limits: the double enforces the primary and secondary
// rate limits, the App paces itself as it does against github.com (throttling on). Small
// enough for CI: writes go a second apart per installation, so 4 writes a job bound it.
const EVENTS = Number(process.env.KTO_LIMITS_EVENTS ?? 10);
const JOBS_PER_EVENT = 5;
const RUNNERS = 10;
const LATENCY_MS = 50;

const CONFIG = `version: 1\nsuites:\n${Array.from({ length: JOBS_PER_EVENT }, (_, k) => `  - { name: s${k}, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [x86_64] } }\n`).join("")}`;

const shaOf = (pr: number) => pr.toString(16).padStart(40, "b");

/**
 * The least time GitHub's limits allow for these requests from one installation: within any
 * minute at most 80 may create content and 900 points be spent, so the n-th request of a kind
 * goes no sooner than a minute per full allowance before it.
 */
function lowerBoundS(requests: readonly { method: string; operationId: string }[]): { boundS: number; content: number; points: number } {
  const content = requests.filter((r) => createsContent(r.operationId)).length;
  const points = requests.reduce((sum, r) => sum + pointsOf(r.method), 0);
  const minutes = Math.max(Math.ceil(content / GITHUB_LIMITS.contentPerMinute), Math.ceil(points / GITHUB_LIMITS.pointsPerMinute)) - 1;
  return { boundS: Math.max(0, minutes) * 60, content, points };
}

describe(`load under GitHub's real limits: ${EVENTS} pull-request events, ${EVENTS * JOBS_PER_EVENT} jobs, throttling on`, () => {
  let dir: string;
  let system: LocalSystem;
  let runners: SimulatedRunners;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kto-limits-"));
    system = await LocalSystem.start({
      dir,
      hosts: [],
      github: { limits: true, latencyMs: LATENCY_MS },
      appEnv: { KTO_GITHUB_THROTTLE: "on", KTO_RUNNER_SYNC_SECONDS: "60" },
    });
    runners = SimulatedRunners.for(system, { runMs: () => 500, status: () => "succeeded" });
    runners.add(RUNNERS, ["x86_64"], "r");
    runners.start();
  });

  afterAll(async () => {
    await runners?.stop();
    await system?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(
    "runs every job, never gets a rate limit answer, and says how far it is from the least time the limits allow",
    async () => {
      const start = performance.now();
      for (let pr = 1; pr <= EVENTS; pr++) expect(await system.openPullRequest(pr, shaOf(pr), CONFIG)).toBe(200);
      const total = EVENTS * JOBS_PER_EVENT;
      const deadline = Date.now() + 15 * 60_000;
      while (system.checkRuns().filter((c) => c.status === "completed").length < total) {
        if (Date.now() > deadline)
          throw new Error(`only ${system.checkRuns().filter((c) => c.status === "completed").length} of ${total} check runs completed`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const elapsedS = (performance.now() - start) / 1000;
      await runners.stop();

      expect(system.checkRuns().every((c) => c.conclusion === "success")).toBe(true);
      const dispatched = system.github.state.dispatches.map((d) => JSON.parse(d.inputs.job!) as { id: string; attempt: number });
      expect(new Set(dispatched.map((d) => `${d.id}#${d.attempt}`)).size).toBe(total);
      expect(dispatched).toHaveLength(total);
      expect(runners.reportFailures).toEqual([]);
      expect(system.github.rejected).toEqual([]);
      // kto stayed inside the limits: not one limit answer, and nothing sent while asked to wait.
      expect(system.github.limiter!.stats).toEqual({
        limited: { primary: 0, secondary: 0, concurrent: 0, points: 0, contentPerMinute: 0, contentPerHour: 0 },
        whileAskedToWait: 0,
      });

      const requests = system.github.requests;
      if (process.env.KTO_LOAD_TRACE)
        for (const r of requests.slice(0, 40)) process.stderr.write(`${((r.at - start) / 1000).toFixed(2)} ${r.method} ${r.operationId}\n`);
      const firstDispatchS = (requests.find((r) => r.operationId === "actions/create-workflow-dispatch")!.at - start) / 1000;
      const installation = requests.filter((r) => !r.operationId.startsWith("apps/"));
      const { boundS, content, points } = lowerBoundS(installation);
      const writes = installation.filter((r) => r.method !== "GET").length;
      process.stdout.write(
        [
          "",
          `load under GitHub's real limits: ${EVENTS} pull_request events, ${total} jobs, ${RUNNERS} runners, ${LATENCY_MS} ms per answer, throttling on`,
          `time to first dispatch: ${firstDispatchS.toFixed(1)} s; all ${total} check runs completed after ${elapsedS.toFixed(1)} s`,
          `least time GitHub's limits allow for these ${installation.length} requests (${content} creating content, ${points} points): ${boundS} s; a second between writes, as GitHub advises and kto does, makes ${writes} writes take ${writes - 1} s`,
          "",
          callsTable(requests, total),
          "",
        ].join("\n"),
      );
    },
    20 * 60_000,
  );
});
