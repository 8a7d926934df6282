import { describe, expect, it } from "@jest/globals";
import { heldByTrustRules } from "../../../src/app/trust/trust.js";
import { app, checkRuns, deliver, dispatchedShas, FIRST, github, held, labeled, pullRequest, REPO, SECOND, UNIT, useAppUnderAttack } from "./attacks.js";
import { until, untilSettled } from "../../helpers/until.js";

/** What a fork's author cannot change from its head: the trust rules, triggers, privileges and job caps are the base branch's; what held jobs ask of the host is shown to who approves them. */

describe("the trust gate against a fork's author", () => {
  useAppUnderAttack();

  it("reads the trust rules from the base branch: a fork that names `bug` its ok-to-test label and trusts everyone is held when reopened with that label", async () => {
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `${UNIT}trust:\n  ok_to_test_label: bug\n  trusted_associations: [OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, FIRST_TIME_CONTRIBUTOR, NONE]\n`,
    );
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    // A maintainer triages it as a bug, as maintainers do every day; the author closes and reopens.
    await deliver("pull_request", labeled(FIRST, "bug", "maintainer"));
    await deliver("pull_request", pullRequest("closed", FIRST, ["bug"]));
    await deliver("pull_request", pullRequest("reopened", FIRST, ["bug"]));
    await until(async () => (await app.store.plans.planIds()).length === 2, "the reopened pull request planned");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect((await app.store.jobs.countsByState()).awaiting_approval).toBe(1);
    expect(github.rejected).toEqual([]);
  });

  it("reads which suites a pull request runs from the base branch: a head that widens its triggers runs the base's suites only", async () => {
    const suite = (name: string) =>
      `  - name: ${name}\n    runner: docker\n    image: kto/busybox:1\n    command: "true"\n    hardware: { labels: [x86_64] }\n`;
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `version: 1\nsuites:\n${suite("unit")}${suite("stress")}triggers:\n  pull_request: [unit]\n`);
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `version: 1\nsuites:\n${suite("unit")}${suite("stress")}${suite("burn-in")}triggers:\n  pull_request: all\n`,
    );
    const trusted = pullRequest("opened", FIRST);
    trusted.pull_request.head.repo.full_name = REPO;
    trusted.pull_request.author_association = "MEMBER";
    await deliver("pull_request", trusted);
    await until(async () => github.state.dispatches.length > 0, "the trusted pull request dispatched");
    await untilSettled({ app, github });
    expect(checkRuns().map((c) => c.name)).toEqual(["kto / unit"]);
    expect(github.rejected).toEqual([]);
  });

  it("reads which privileges a pull request's suites may have from the base branch: a suite asking for more is a config error at its field, and only the others run", async () => {
    const suite = (name: string, asks = "") =>
      `  - name: ${name}\n    runner: docker\n    image: kto/busybox:1\n    command: "true"\n    hardware: { labels: [x86_64] }\n${asks}`;
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `version: 1\nsuites:\n${suite("unit")}privileges:\n  capabilities: [contained]\n`);
    // The head widens its own privileges too, which is the base's word and so counts for nothing.
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `version: 1\nsuites:\n${suite("unit")}${suite("escape", "    user: root\n    capabilities: [DAC_READ_SEARCH]\n")}privileges:\n  user: root\n  capabilities: [DAC_READ_SEARCH]\n`,
    );
    const trusted = pullRequest("opened", FIRST);
    trusted.pull_request.head.repo.full_name = REPO;
    trusted.pull_request.author_association = "MEMBER";
    await deliver("pull_request", trusted);
    await until(async () => github.state.dispatches.length > 0, "the trusted pull request dispatched");
    await untilSettled({ app, github });
    const config = checkRuns().find((c) => c.name === "kto / config");
    expect(config).toMatchObject({ head_sha: FIRST, status: "completed", conclusion: "failure" });
    expect(config!.output.summary.split("\n")).toEqual([
      "- `.github/kto.yml:13:11` suites[1].user: root is not allowed by privileges in the base branch's .github/kto.yml, which has user: non-root",
      expect.stringMatching(
        /^- `\.github\/kto\.yml:14:20` suites\[1\]\.capabilities\[0\]: DAC_READ_SEARCH is not granted by privileges in the base branch's \.github\/kto\.yml: open_by_handle_at /,
      ),
    ]);
    expect((await app.store.jobs.list()).map((job) => job.name)).toEqual(["unit"]);
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("trusts no author while the base branch's kto.yml is invalid: a member's own branch waits too", async () => {
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `${UNIT}trust:\n  trusted_associations: everyone\n`);
    const member = pullRequest("opened", FIRST);
    member.pull_request.head.repo.full_name = REPO;
    member.pull_request.author_association = "MEMBER";
    await deliver("pull_request", member);
    const run = await held(FIRST);
    expect(run.output.summary).toContain(".github/kto.yml on master is invalid, so kto cannot tell whom it trusts");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect(github.rejected).toEqual([]);
  });

  it("holds a fork's plan to the base branch's job caps: a head config that raises limits.jobs_per_plan does not raise them", async () => {
    const threeJobs = `version: 1
suites:
  - name: unit
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [x86_64] }
    matrix: { n: [1, 2, 3] }
`;
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `${UNIT}limits:\n  jobs_per_plan: 2\n`);
    github.state.files.set(`${REPO}@${FIRST}:.github/kto.yml`, `${threeJobs}limits:\n  jobs_per_plan: 4096\n`);
    await deliver("pull_request", pullRequest("opened", FIRST));
    const failed = await until(async () => checkRuns().find((c) => c.name === "kto / config"), "the config check run");
    expect(failed).toMatchObject({ head_sha: FIRST, conclusion: "failure" });
    expect(failed.output.summary).toContain("brings the plan to 3 jobs; at most 2 per plan (limits.jobs_per_plan on the base branch master");
    expect(await app.store.plans.planIds()).toEqual([]);

    // A trusted head's config sets its own caps.
    github.state.files.set(`${REPO}@${SECOND}:.github/kto.yml`, `${threeJobs}limits:\n  jobs_per_plan: 4096\n`);
    const member = pullRequest("opened", SECOND);
    member.pull_request.head.repo.full_name = REPO;
    member.pull_request.author_association = "MEMBER";
    await deliver("pull_request", member);
    await until(async () => (await app.store.jobs.list()).length === 3, "the member's three jobs");
    expect(github.rejected).toEqual([]);
  });

  it("lists in the approval check run what the held jobs ask of the runner host: root, capabilities, devices, network", async () => {
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `${UNIT}    user: root
    capabilities: [NET_ADMIN, CAP_SYS_PTRACE]
    devices: [/dev/net/tun]
    network: true
  - name: plain
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [x86_64] }
`,
    );
    await deliver("pull_request", pullRequest("opened", FIRST));
    const run = await held(FIRST);
    expect(run.output.summary).toContain(
      "They ask the runner host for more than kto's isolation defaults; approve only if the code may have it:\n\n" +
        "- `user: root`: 1 of 2 jobs\n- `capability: NET_ADMIN`: 1 of 2 jobs\n- `capability: SYS_PTRACE`: 1 of 2 jobs\n" +
        "- `device: /dev/net/tun`: 1 of 2 jobs\n- `network`: 1 of 2 jobs",
    );
    expect(run.output.summary).toContain(
      "- `kto / unit` (labels: x86_64; user: root; capability: NET_ADMIN; capability: SYS_PTRACE; device: /dev/net/tun; network)\n- `kto / plain` (labels: x86_64)",
    );
    expect(github.rejected).toEqual([]);
  });

  it("narrows a fork's held plan to the base branch's privileges: a suite asking for more is a config error, and the approval lists only what the others ask", async () => {
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `${UNIT}privileges:\n  network: true\n`);
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `${UNIT}    network: true
  - name: escape
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [x86_64] }
    user: root
`,
    );
    await deliver("pull_request", pullRequest("opened", FIRST));
    const run = await held(FIRST);
    const config = await until(async () => checkRuns().find((c) => c.name === "kto / config" && c.head_sha === FIRST), "the config check run");
    expect(config).toMatchObject({ status: "completed", conclusion: "failure" });
    expect(config.output.summary).toContain("suites[1].user: root is not allowed by privileges in the base branch's .github/kto.yml");
    expect(run.output.summary).toContain("approve only if the code may have it:\n\n- `network`: every job");
    expect(run.output.summary).not.toContain("escape");
    expect((await app.store.jobs.list()).map((job) => [job.name, job.state])).toEqual([["unit", "awaiting_approval"]]);
    expect(github.state.dispatches).toEqual([]);
    expect(github.rejected).toEqual([]);
  });
});

describe("heldByTrustRules", () => {
  const trust = { ok_to_test_label: "kto/ok-to-test", trusted_associations: ["OWNER", "MEMBER", "COLLABORATOR"] };
  it("holds a pull request whose head repository is gone, whoever wrote it", () => {
    expect(heldByTrustRules({ authorAssociation: "OWNER", headRepo: null, baseRepo: REPO, labels: [] }, trust)).toBe("its head repository was deleted");
  });
});
