import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { app, deliver, examples, expectConsistentStore, github, hostileValue, mutate, openedPullRequest, useFuzzedApp } from "./fuzzed-app.js";
import { until } from "../../helpers/until.js";

/** Signed webhooks GitHub would never send: an odd repository, no installation, every handled event mutated at random. */

describe("no input takes the App down", () => {
  useFuzzedApp();

  it("ignores a signed webhook whose repository is not an owner/name, and goes on planning real ones", async () => {
    const before = github.state.checkRuns.size;
    for (const fullName of [42, "no-slash", "../../etc", { a: 1 }]) {
      const odd = openedPullRequest() as { repository: Record<string, unknown> };
      odd.repository = { ...odd.repository, full_name: fullName };
      expect(await deliver("pull_request", odd)).toBe(200);
    }
    expect(await deliver("pull_request", openedPullRequest())).toBe(200);
    await until(async () => github.state.checkRuns.size > before, "a check run for the real pull request");
    expect(github.rejected).toEqual([]);
  });

  it("a signed webhook that names no installation makes no call to GitHub: without one, each call would go unauthenticated", async () => {
    const kinds = ["pull_request", "check_suite", "check_run", "issue_comment", "workflow_dispatch", "repository_dispatch", "workflow_job"];
    const deliveries = examples
      .filter((e) => kinds.includes(e.name))
      .flatMap((e) => e.examples.map((payload) => ({ event: e.name, payload: { ...payload, installation: undefined } })));
    expect(deliveries.length).toBeGreaterThan(10);
    const before = github.requests.length;
    for (const { event, payload } of deliveries) expect(await deliver(event, payload)).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(github.requests.slice(before)).toEqual([]);
    expect(github.rejected).toEqual([]);
  });

  it("signed webhooks of every event kto handles, mutated at random, leave it answering with a consistent store", async () => {
    const handled = [
      "pull_request",
      "issue_comment",
      "check_run",
      "check_suite",
      "repository_dispatch",
      "workflow_dispatch",
      "workflow_job",
      "installation",
      "installation_repositories",
    ];
    const payloads = examples.filter((e) => handled.includes(e.name)).flatMap((e) => e.examples.map((payload) => ({ event: e.name, payload })));
    expect(payloads.length).toBeGreaterThan(30);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: payloads.length - 1 }),
        fc.array(fc.record({ path: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), value: hostileValue, drop: fc.boolean() }), {
          minLength: 1,
          maxLength: 6,
        }),
        async (index, edits) => {
          const { event, payload } = payloads[index]!;
          const status = await deliver(event, mutate(payload, edits));
          // A payload the handler cannot use is GitHub's to redeliver or drop: any answer but a dead socket.
          expect([200, 202, 400, 401, 404, 500]).toContain(status);
          expect((await fetch(`${app.url}/kto/health`)).status).toBe(200);
        },
      ),
      { numRuns: 150 },
    );
    await expectConsistentStore();
    // Still doing its work: a real pull request after the noise gets its check run.
    const before = github.state.checkRuns.size;
    const pr = openedPullRequest();
    expect(await deliver("pull_request", pr)).toBe(200);
    await until(async () => github.state.checkRuns.size > before, "a check run for the real pull request");
  }, 300_000);
});
