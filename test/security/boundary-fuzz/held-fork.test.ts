import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { app, CONFIG, deliver, examples, expectConsistentStore, github, hostileValue, mutate, openedPullRequest, REPO, useFuzzedApp } from "./fuzzed-app.js";

/** Re-requests and requested actions of a fork's held commit, mutated at random. */

describe("no input takes the App down", () => {
  useFuzzedApp();

  it("re-requests and requested actions of a fork's held commit, mutated at random, never let it out of the wait", async () => {
    const forkSha = "f".repeat(40);
    const number = 77;
    github.state.files.set(`${REPO}@${forkSha}:.github/kto.yml`, CONFIG);
    github.state.pulls.set(`${REPO}#${number}`, { number, head: { sha: forkSha, repo: { full_name: "stranger/Hello-World" } }, base: { ref: "master" } });
    const opened = openedPullRequest() as {
      number: number;
      pull_request: { number: number; author_association: string; head: { sha: string; repo: { full_name: string } } };
      repository: unknown;
      installation: unknown;
    };
    opened.number = number;
    opened.pull_request.number = number;
    opened.pull_request.author_association = "NONE";
    opened.pull_request.head.sha = forkSha;
    opened.pull_request.head.repo.full_name = "stranger/Hello-World";
    // Opened twice: the second plan supersedes the first, whose job ends, a job of a plan kto held.
    expect(await deliver("pull_request", opened)).toBe(200);
    expect(await deliver("pull_request", opened)).toBe(200);
    const plans = await app.store.plans.plansAt(REPO, forkSha);
    const [ended] = await app.store.jobs.list({ planId: plans.at(-1)!.id });
    expect(ended?.state).toBe("cancelled");

    const example = (event: string, action: string) => structuredClone(examples.find((e) => e.name === event)!.examples.find((e) => e.action === action)!);
    const bySomeoneWhoCannotWrite = (payload: Record<string, unknown>) => {
      Object.assign(payload, {
        repository: opened.repository,
        installation: opened.installation,
        sender: { ...(payload.sender as object), login: "stranger" },
      });
      return payload;
    };
    const suite = example("check_suite", "rerequested") as { check_suite: Record<string, unknown> };
    Object.assign(suite.check_suite, { head_sha: forkSha, head_branch: null, pull_requests: [] });
    const pressed = (action: string) => {
      const payload = example("check_run", action) as { check_run: Record<string, unknown>; requested_action?: unknown };
      Object.assign(payload.check_run, { external_id: ended!.id, head_sha: forkSha, name: "kto / unit" });
      if (action === "requested_action") payload.requested_action = { identifier: "rerun" };
      return payload;
    };
    const presses = [
      { event: "check_suite", payload: bySomeoneWhoCannotWrite(suite) },
      { event: "check_run", payload: bySomeoneWhoCannotWrite(pressed("rerequested")) },
      { event: "check_run", payload: bySomeoneWhoCannotWrite(pressed("requested_action")) },
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: presses.length - 1 }),
        fc.array(fc.record({ path: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), value: hostileValue, drop: fc.boolean() }), { maxLength: 4 }),
        async (index, edits) => {
          const { event, payload } = presses[index]!;
          expect([200, 202, 400, 401, 404, 500]).toContain(await deliver(event, mutate(payload, edits)));
          // No runner is registered: a job let through would sit in the queue.
          for (const plan of await app.store.plans.plansAt(REPO, forkSha))
            for (const job of await app.store.jobs.list({ planId: plan.id })) expect(["awaiting_approval", "cancelled"]).toContain(job.state);
        },
      ),
      { numRuns: 100 },
    );
    await expectConsistentStore();
    expect(github.state.dispatches.filter((d) => d.inputs.sha === forkSha)).toEqual([]);
  }, 300_000);
});
