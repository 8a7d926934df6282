import { afterEach, describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { startGitHubApiDouble, type GitHubApiDouble, type GitHubApiDoubleOptions } from "../../helpers/github-api-double.js";
import { CONFIG, REPO, shaOf } from "./harness.js";

/** The GitHub API double in real limits mode: the primary and secondary rate limits as GitHub answers them. */

describe("the double in real limits mode answers as GitHub does", () => {
  let github: GitHubApiDouble;
  afterEach(async () => {
    await github?.close();
  });

  async function start(
    options: GitHubApiDoubleOptions,
  ): Promise<(method: string, path: string, body?: unknown) => Promise<{ status: number; headers: Headers; body: { message?: string } }>> {
    github = await startGitHubApiDouble(options);
    github.state.tokens.set("ghs_installation7", github.state.appPermissions);
    github.state.files.set(`${REPO}@main:.github/kto.yml`, CONFIG);
    return async (method, path, body) => {
      const response = await fetch(`${github.url}${path}`, {
        method,
        headers: { authorization: "token ghs_installation7", "content-type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: response.status, headers: response.headers, body: (await response.json().catch(() => ({}))) as { message?: string } };
    };
  }
  const read = `/repos/${REPO}/contents/.github%2Fkto.yml?ref=main`;
  const checkRun = { name: "kto / unit", head_sha: shaOf(1) };

  it("counts the primary limit in x-ratelimit-* headers on every answer, and refuses the request past it until the reset", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const request = await start({ limits: { perHour: 3 }, now: () => clock.now() });
    const answers = [await request("GET", read), await request("GET", read), await request("GET", read)];
    expect(answers.map((a) => [a.status, a.headers.get("x-ratelimit-remaining"), a.headers.get("x-ratelimit-used")])).toEqual([
      [200, "2", "1"],
      [200, "1", "2"],
      [200, "0", "3"],
    ]);
    expect(answers[0]!.headers.get("x-ratelimit-limit")).toBe("3");
    expect(answers[0]!.headers.get("x-ratelimit-resource")).toBe("core");
    const reset = Number(answers[0]!.headers.get("x-ratelimit-reset"));
    expect(reset * 1000).toBeGreaterThan(clock.now());
    const refused = await request("GET", read);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/^API rate limit exceeded for installation ID 7\./);
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(Number(refused.headers.get("x-ratelimit-reset"))).toBe(reset);
    clock.advance(reset * 1000 - clock.now());
    expect((await request("GET", read)).status).toBe(200);
    expect(github.limiter!.stats.limited.primary).toBe(1);
    expect(github.limiter!.stats.whileAskedToWait).toBe(0);
  });

  it("charges a write 5 points and a read 1 against 900 a minute, and says when to come back", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const request = await start({ limits: { pointsPerMinute: 12 }, now: () => clock.now() });
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    clock.advance(10_000);
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    expect((await request("GET", read)).status).toBe(200);
    expect((await request("GET", read)).status).toBe(200);
    const refused = await request("GET", read);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/^You have exceeded a secondary rate limit/);
    // The first write's 5 points leave the minute 50 s from now.
    expect(refused.headers.get("retry-after")).toBe("50");
    expect(refused.headers.get("x-ratelimit-remaining")).not.toBe("0");
    clock.advance(10_000);
    await request("GET", read); // sent while asked to wait
    expect(github.limiter!.stats.whileAskedToWait).toBe(1);
    clock.advance(40_000);
    expect((await request("GET", read)).status).toBe(200);
  });

  it("limits content creation to 80 a minute and 500 an hour, and concurrent requests to 100", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const request = await start({ limits: { contentPerMinute: 2, contentPerHour: 3, concurrent: 2 }, latencyMs: 200, now: () => clock.now() });
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    const perMinute = await request("POST", `/repos/${REPO}/check-runs`, checkRun);
    expect([perMinute.status, perMinute.headers.get("retry-after")]).toEqual([403, "60"]);
    // An update creates nothing.
    expect((await request("PATCH", `/repos/${REPO}/check-runs/1000`, { status: "in_progress" })).status).toBe(200);
    clock.advance(61_000);
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    clock.advance(61_000);
    const perHour = await request("POST", `/repos/${REPO}/check-runs`, checkRun);
    expect([perHour.status, perHour.headers.get("retry-after")]).toEqual([403, String(3_600 - 122)]);
    // Three at once against a limit of two: one is refused, with no retry-after (GitHub's "wait at least a minute").
    clock.advance(3_600_000);
    const together = await Promise.all([request("GET", read), request("GET", read), request("GET", read)]);
    expect(together.map((a) => a.status).sort()).toEqual([200, 200, 403]);
    expect(together.find((a) => a.status === 403)!.headers.get("retry-after")).toBeNull();
    expect(github.limiter!.stats.limited).toMatchObject({ contentPerMinute: 1, contentPerHour: 1, concurrent: 1 });
  });
});
