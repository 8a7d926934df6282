import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { CAPABILITY_REACH } from "../../../src/config/capability-reach.js";
import { DOCKER_DEVICES } from "../../../src/config/docker-access.js";
import { app, CONFIG, deliver, github, openedPullRequest, REPO, useFuzzedApp } from "./fuzzed-app.js";
import { until } from "../../helpers/until.js";

/** A head's suites asking for privileges at random under a base branch allowing random ones. */

/** Capabilities of both kinds, and `contained`, to ask for and allow. */
const SOME_CAPABILITIES = ["CHOWN", "KILL", "NET_ADMIN", "SYS_ADMIN", "DAC_READ_SEARCH"] as const;

/** A base's `privileges:` (or none), and a head's suites asking for privileges at random. */
const privilegeDraw = fc.record({
  base: fc.option(
    fc.record({
      user: fc.constantFrom("root", "non-root"),
      capabilities: fc.subarray(["contained", ...SOME_CAPABILITIES]),
      devices: fc.subarray([...DOCKER_DEVICES]),
      network: fc.boolean(),
    }),
    { nil: undefined, freq: 5 },
  ),
  suites: fc.array(
    fc.record({ root: fc.boolean(), capabilities: fc.subarray([...SOME_CAPABILITIES]), devices: fc.subarray([...DOCKER_DEVICES]), network: fc.boolean() }),
    { minLength: 1, maxLength: 3 },
  ),
});
type PrivilegeDraw = typeof privilegeDraw extends fc.Arbitrary<infer T> ? T : never;

/** Written here, apart from kto's code: whether the base lets a suite have what it asks for. */
function baseAllows(base: PrivilegeDraw["base"], suite: PrivilegeDraw["suites"][number]): boolean {
  if (!base) return true;
  const capability = (name: (typeof SOME_CAPABILITIES)[number]) =>
    base.capabilities.includes(name) || (base.capabilities.includes("contained") && CAPABILITY_REACH[name] === null);
  return (
    (!suite.root || base.user === "root") &&
    (!suite.root || suite.capabilities.every(capability)) &&
    suite.devices.every((device) => base.devices.includes(device)) &&
    (!suite.network || base.network)
  );
}

describe("no input takes the App down", () => {
  useFuzzedApp();

  it("a head's suites asking for random privileges under a base allowing random ones: the App stores only the jobs the base allows, and says why of the rest", async () => {
    await fc.assert(
      fc.asyncProperty(privilegeDraw, fc.stringMatching(/^[0-9a-f]{40}$/), async ({ base, suites }, sha) => {
        // A base branch of its own for each draw: the App holds a branch's policy for a minute.
        const baseRef = `privileges-${sha.slice(0, 8)}`;
        const list = (values: readonly string[]) => `[${values.join(", ")}]`;
        const baseText = base
          ? `privileges: { user: ${base.user}, capabilities: ${list(base.capabilities)}, devices: ${list(base.devices)}, network: ${base.network} }\n`
          : "";
        github.state.files.set(`${REPO}@${baseRef}:.github/kto.yml`, `${CONFIG}${baseText}`);
        const head = suites.map(
          (suite, i) =>
            `  - { name: s${i}, runner: docker, image: kto/busybox:1, command: "true", network: ${suite.network}, devices: ${list(suite.devices)}` +
            `${suite.root ? `, user: root, capabilities: ${list(suite.capabilities)}` : ""} }\n`,
        );
        // The head's own privileges allow everything, and count for nothing.
        const everything = `privileges: { user: root, capabilities: ${list(SOME_CAPABILITIES)}, devices: ${list(DOCKER_DEVICES)}, network: true }\n`;
        github.state.files.set(`${REPO}@${sha}:.github/kto.yml`, `version: 1\nsuites:\n${head.join("")}${everything}`);
        const pr = openedPullRequest() as { pull_request: { head: { sha: string }; base: { ref: string } } };
        pr.pull_request.head.sha = sha;
        pr.pull_request.base.ref = baseRef;
        expect(await deliver("pull_request", pr)).toBe(200);

        const allowed = suites.flatMap((suite, i) => (baseAllows(base, suite) ? [`s${i}`] : []));
        const ofThisHead = async () => (await app.store.jobs.list()).filter((job) => job.id.startsWith(`${REPO}@${sha.slice(0, 12)}-`));
        const configRun = () => [...github.state.checkRuns.values()].find((run) => run.name === "kto / config" && run.head_sha === sha);
        await until(async () => (await ofThisHead()).length === allowed.length && !configRun() === (allowed.length === suites.length), "the head planned");
        expect((await ofThisHead()).map((job) => job.name).sort()).toEqual(allowed);
        if (allowed.length < suites.length) expect(configRun()).toMatchObject({ conclusion: "failure" });
      }),
      { numRuns: 40 },
    );
    expect(github.rejected).toEqual([]);
  }, 300_000);
});
