import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { openStore } from "../../src/orchestrator/store/open-store.js";
import { isTerminal } from "../../src/orchestrator/job-state.js";
import { JOB_LABEL, OWNER_LABEL } from "../../src/runners/docker-options.js";
import { ownerIsGone } from "../../src/runners/leftovers.js";
import { LocalSystem, type CheckRunView } from "../helpers/local-system.js";
import { runningQemus } from "../helpers/processes.js";
import { until } from "../helpers/until.js";

const tap = (name: string, ok: boolean) => `echo 'TAP version 13'; echo 1..1; echo '${ok ? "ok" : "not ok"} 1 - ${name}'`;
const CONFIG = `version: 1
defaults: { timeout: 5m }
suites:
  - { name: quick, runner: docker, image: kto/busybox:1, command: "${tap("quick", true)}", results: tap }
  - { name: slow, runner: docker, image: kto/busybox:1, command: "sleep 4; ${tap("slow", true)}", results: tap }
  - { name: broken, runner: docker, image: kto/busybox:1, command: "sleep 1; ${tap("broken", false)}", results: tap }
triggers: { pull_request: all }
`;
const EXPECTED = { "kto / quick": "success", "kto / slow": "success", "kto / broken": "failure" };
const WITH_VM = `${CONFIG.replace("triggers: { pull_request: all }\n", "")}  - name: vm
    runner: qemu
    kernel: /var/lib/kto/kernel/vmlinuz
    command: "sleep 3; ${tap("vm", true)}"
    results: tap
    hardware: { memory: 256M, cpus: 1 }
triggers: { pull_request: all }
`;

describe("faults: the App killed, a runner host killed, GitHub failing, the App unreachable", () => {
  let dir: string;
  let system: LocalSystem;

  afterEach(async () => {
    await system?.close();
    await rm(dir, { recursive: true, force: true });
  });

  let startedAt = 0;

  async function start(hosts: { name: string; runners: number }[]): Promise<void> {
    startedAt = Date.now();
    dir = await mkdtemp(join(tmpdir(), "kto-faults-"));
    system = await LocalSystem.start({ dir, hosts });
  }

  /** After the fault: every job ended exactly once, nothing went out twice, nothing is left. */
  async function expectExactlyOnce(fault: string, sha: string, expected: Record<string, string>): Promise<CheckRunView[]> {
    const runs = await system.checkRunsCompleted(sha, Object.keys(expected).length, 120_000);
    const settledS = (Date.now() - startedAt) / 1000;
    expect(Object.fromEntries(runs.map((r) => [r.name, r.conclusion]))).toEqual(expected);
    // One check run per job: none created twice.
    expect(runs.map((r) => r.name).sort()).toEqual(Object.keys(expected).sort());
    // GitHub never saw two conclusions for one check run.
    const concluded = new Map<number, Set<string>>();
    for (const request of system.github.requests) {
      if (!["checks/create", "checks/update"].includes(request.operationId) || request.body.status !== "completed") continue;
      const id =
        request.operationId === "checks/create" ? runs.find((r) => r.external_id === request.body.external_id)?.id : Number(request.params.check_run_id);
      if (id !== undefined) concluded.set(id, new Set([...(concluded.get(id) ?? []), String(request.body.conclusion)]));
    }
    for (const conclusions of concluded.values()) expect(conclusions.size).toBe(1);
    // No attempt of a job was dispatched twice.
    const attempts = system.github.state.dispatches.map((d) => JSON.parse(d.inputs.job!) as { id: string; attempt: number }).map((j) => `${j.id}#${j.attempt}`);
    expect(new Set(attempts).size).toBe(attempts.length);
    expect(system.github.rejected).toEqual([]);

    // No container or VM is left (the runners' own cleanup may take a moment after the report).
    const left = () => new Docker().listContainers({ all: true, filters: { label: [OWNER_LABEL] } });
    await until(async () => (await left()).length === 0, "kto's containers to be removed", 60_000).catch(async (error: Error) => {
      // Which container, whose and in what state: the one thing to know when this fails.
      const seen = (await left()).map((c) => {
        const owner = c.Labels[OWNER_LABEL] ?? "";
        return `${c.Names.join(",")} (${c.State}, ${c.Status}, job ${c.Labels[JOB_LABEL]}, owner ${owner} ${ownerIsGone(owner) ? "gone" : "alive"})`;
      });
      throw new Error(`${error.message}: left ${seen.join("; ")}`);
    });
    await until(async () => (await runningQemus()).length === 0, "QEMU to exit", 20_000);
    for (const host of system.hosts) await host.stop();

    // In the store: one terminal transition per job, nothing active, nothing undelivered, the queue's lease free.
    await system.stopApp();
    const store = await openStore({ dataDir: join(dir, "app-data") });
    try {
      const jobs = await store.jobs.list();
      expect(jobs.every((j) => isTerminal(j.state))).toBe(true);
      for (const job of jobs) expect((await store.jobs.transitions(job.id)).filter((t) => isTerminal(t.to))).toHaveLength(1);
      expect(await store.jobs.busyByRunner()).toEqual(new Map());
      expect(await store.outbox.outboxPending()).toBe(0);
      expect(await store.coordination.acquireLock("queue-monitor", "checker", 1_000, Date.now())).toBe(true);
      const retried = system.github.state.dispatches.length - jobs.length;
      const failedCalls = system.github.state.outageServed;
      process.stdout.write(
        `faults: ${fault}: ${jobs.length} jobs ended once, ${system.github.state.dispatches.length} dispatches (${retried} re-run after the fault), ${system.github.requests.length} GitHub calls${failedCalls ? ` (${failedCalls} failed)` : ""}, settled ${settledS.toFixed(1)} s after the pull request\n`,
      );
    } finally {
      await store.close();
    }
    return runs;
  }

  it("the App SIGKILLed mid-flow and restarted: every job still ends once", async () => {
    await start([{ name: "host-a", runners: 2 }]);
    const sha = "a".repeat(40);
    expect(await system.openPullRequest(1, sha, CONFIG)).toBe(200);
    await until(() => system.checkRuns(sha).some((r) => r.status === "in_progress"), "a job running");
    await system.killApp();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await system.startApp();
    await expectExactlyOnce("the App SIGKILLed and restarted", sha, EXPECTED);
  }, 300_000);

  it("a runner host killed mid-job: the job runs again elsewhere, and its container and VM are removed", async () => {
    await start([{ name: "host-a", runners: 1 }]);
    const sha = "b".repeat(40);
    expect(await system.openPullRequest(2, sha, WITH_VM)).toBe(200);
    const victim = system.hosts[0]!;
    await until(() => victim.started.length > 0, "host-a to start a run");
    // Let the container or VM come up, then the host loses power.
    await until(
      async () => (await new Docker().listContainers({ filters: { label: [OWNER_LABEL] } })).length > 0 || (await runningQemus()).length > 0,
      "the job's container or VM",
      30_000,
    );
    await victim.kill();
    // systemd starts the runner service again on a healthy host; its first act is the cleanup.
    await system.addHost({ name: "host-b", runners: 1 });
    await expectExactlyOnce("a runner host killed mid-job", sha, { ...EXPECTED, "kto / vm": "success" });
    const retried = system.github.state.dispatches.map((d) => JSON.parse(d.inputs.job!) as { id: string; attempt: number }).filter((j) => j.attempt === 2);
    expect(retried.length).toBeGreaterThanOrEqual(1);
  }, 300_000);

  it("GitHub answering 502 and 429 in bursts: side effects are retried until they land", async () => {
    await start([{ name: "host-a", runners: 2 }]);
    const sha = "c".repeat(40);
    expect(await system.openPullRequest(3, sha, CONFIG)).toBe(200);
    await until(() => system.checkRuns(sha).length === 3, "the queued check runs");
    system.github.state.outage.push(...Array<number>(6).fill(502));
    await until(() => system.checkRuns(sha).some((r) => r.status === "in_progress"), "a job running");
    system.github.state.outage.push(...Array<number>(6).fill(429));
    await expectExactlyOnce("GitHub 502 and 429 bursts", sha, EXPECTED);
    expect(system.github.state.outage).toEqual([]);
    expect(system.github.state.outageServed).toBe(12);
  }, 300_000);

  it("the App unreachable while the action reports: the reports are retried and land once it is back", async () => {
    await start([{ name: "host-a", runners: 2 }]);
    const sha = "d".repeat(40);
    expect(await system.openPullRequest(4, sha, CONFIG)).toBe(200);
    await until(() => system.checkRuns(sha).find((r) => r.name === "kto / slow" && r.status === "in_progress"), "the slow job running");
    await system.killApp();
    // The slow job finishes meanwhile; its finished report fails and is retried with backoff.
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    await system.startApp();
    const runs = await expectExactlyOnce("the App unreachable for reports", sha, EXPECTED);
    // The report landed: the slow job was not run again.
    const slow = runs.find((r) => r.name === "kto / slow")!;
    expect(system.github.state.dispatches.filter((d) => (JSON.parse(d.inputs.job!) as { id: string }).id === slow.external_id)).toHaveLength(1);
  }, 300_000);
});
