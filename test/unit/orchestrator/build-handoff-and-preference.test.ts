import { describe, expect, it } from "@jest/globals";
import { buildArtifactName, buildHandoff, outputFilesOf } from "../../../src/orchestrator/build-handoff.js";
import { assignJobs, type FreeRunner, type SchedulableJob } from "../../../src/orchestrator/scheduler.js";
import { UNRESTRICTED } from "../../../src/orchestrator/scope.js";
import { hostOfRunner } from "../../../src/orchestrator/labels.js";
import { buildJob } from "../../helpers/job.js";

const digest = (c: string) => c.repeat(64);
const runner = (id: string, labels: string[], free = 1): FreeRunner => ({ id, labels, scope: UNRESTRICTED, free });
const job = (id: string, labels: string[], prefers?: string): SchedulableJob => ({
  id,
  labels,
  repo: null,
  repoPrivate: null,
  ...(prefers ? { prefers } : {}),
});

describe("the scheduler's preference for the runner that ran a job's build", () => {
  it("sends a job to the runner that built its kernel when that runner is as fitting as the others", () => {
    const runners = [runner("a", ["x86_64"], 2), runner("b", ["x86_64"], 1), runner("c", ["x86_64"], 1)];
    expect(assignJobs([job("kunit", ["x86_64"], "c")], runners)).toEqual([{ jobId: "kunit", runnerId: "c" }]);
    // Without a preference, the runner with the most free slots.
    expect(assignJobs([job("kunit", ["x86_64"])], runners)).toEqual([{ jobId: "kunit", runnerId: "a" }]);
  });

  it("never changes which jobs are assigned: a preferred runner with more labels, or with no free slot, is passed over", () => {
    const runners = [runner("plain", ["x86_64"]), runner("kvm", ["x86_64", "kvm"])];
    // The preferred runner has labels the job does not need: special hardware stays free for jobs that need it.
    const jobs = [job("kunit", ["x86_64"], "kvm"), job("needs-kvm", ["x86_64", "kvm"])];
    expect(assignJobs(jobs, runners)).toEqual([
      { jobId: "kunit", runnerId: "plain" },
      { jobId: "needs-kvm", runnerId: "kvm" },
    ]);
    const full = [runner("a", ["x86_64"]), runner("b", ["x86_64"], 0)];
    expect(assignJobs([job("kunit", ["x86_64"], "b")], full)).toEqual([{ jobId: "kunit", runnerId: "a" }]);
  });
});

describe("labels, as GitHub compares them", () => {
  it("match without regard to case: a job asking for KVM runs on a runner labelled kvm, and one class holds both spellings", () => {
    const runners = [runner("lower", ["self-hosted", "x86_64", "kvm"]), runner("upper", ["Self-Hosted", "X86_64", "KVM"], 3)];
    expect(assignJobs([job("a", ["KVM", "x86_64"]), job("b", ["kvm"]), job("c", ["kvm", "gpu"])], runners)).toEqual([
      { jobId: "a", runnerId: "upper" },
      { jobId: "b", runnerId: "upper" },
    ]);
    // A job naming its runner by its own label is bound to that runner, however the label is cased.
    const own = [runner("r1", ["kvm", "kto-runner-host-1-abcdef"]), runner("r2", ["kvm", "kto-runner-host-2-abcdef"])];
    expect(assignJobs([job("d", ["KVM", "KTO-RUNNER-host-2-ABCDEF"])], own)).toEqual([{ jobId: "d", runnerId: "r2" }]);
  });
});

describe("a build's handoff", () => {
  const files = [
    { path: "bzImage", role: "kernel", size: 1024, sha256: digest("a") },
    { path: "vmlinux", role: "vmlinux", size: 4096, sha256: digest("b") },
  ];

  it("names the build's artifact by its slug and carries the files of its stored report, with its job and run", () => {
    const build = { id: "plan/x86_64-kunit", runId: "77", spec: buildJob({ id: "x86_64-kunit" }), result: { name: "x86_64-kunit", build: { files } } };
    expect(buildArtifactName(build.spec)).toBe("kto-build-x86_64-kunit");
    expect(buildHandoff(build)).toEqual({ jobId: "plan/x86_64-kunit", runId: "77", artifact: "kto-build-x86_64-kunit", files });
  });

  it("hands on only whole entries, one per role, from whatever the report holds", () => {
    expect(outputFilesOf(null)).toEqual([]);
    expect(outputFilesOf({ build: "no" })).toEqual([]);
    expect(outputFilesOf({ build: { files: "no" } })).toEqual([]);
    expect(
      outputFilesOf({
        build: {
          files: [
            files[0],
            { ...files[1], sha256: "cut…" },
            { path: "../etc/passwd", role: "config", size: 1, sha256: digest("c") },
            { ...files[0], path: "other" },
            { path: "System.map", role: "system-map", size: 10, sha256: digest("d") },
          ],
        },
      }),
    ).toEqual([files[0], { path: "System.map", role: "system-map", size: 10, sha256: digest("d") }]);
  });
});

describe("the preference for the host that built a kernel, when its runners are ephemeral", () => {
  it("sends the job to the runner its host registered after the building runner was gone, not to an equal runner elsewhere", () => {
    const runners = [runner("b1", ["x86_64", "kto-runner-host-b-4-0a1b2c"]), runner("a2", ["x86_64", "kto-runner-host-a-2-ffee01"])];
    const kunit: SchedulableJob = { id: "kunit", labels: ["x86_64"], repo: null, repoPrivate: null, prefers: "gone", prefersHost: "host-a" };
    expect(assignJobs([kunit], runners)).toEqual([{ jobId: "kunit", runnerId: "a2" }]);
    // Without the preference the first of the class takes it: the preference is what chose host-a.
    expect(assignJobs([{ ...kunit, prefersHost: null }], runners)).toEqual([{ jobId: "kunit", runnerId: "b1" }]);
  });

  it("reads a host only from a name the runner host service gave", () => {
    expect(hostOfRunner(["x86_64", "kto-runner-build-box-1-3-a0b1c2"])).toBe("build-box-1");
    expect(hostOfRunner(["x86_64", "kto-runner-laptop"])).toBeNull();
    expect(hostOfRunner(["x86_64"])).toBeNull();
  });

  it("a job that names one runner by its own label goes to that runner, whichever runner its class lists first", () => {
    const runners = [runner("b1", ["x86_64", "kto-runner-host-b-4-0a1b2c"]), runner("a2", ["x86_64", "kto-runner-host-a-2-ffee01"])];
    const pinned: SchedulableJob = { id: "board", labels: ["x86_64", "kto-runner-host-a-2-ffee01"], repo: null, repoPrivate: null };
    expect(assignJobs([pinned], runners)).toEqual([{ jobId: "board", runnerId: "a2" }]);
    expect(assignJobs([pinned], [...runners].reverse())).toEqual([{ jobId: "board", runnerId: "a2" }]);
    // Its runner busy: it waits, rather than going to a runner it did not name.
    expect(assignJobs([pinned], [runners[0]!, { ...runners[1]!, free: 0 }])).toEqual([]);
  });
});
