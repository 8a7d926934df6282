import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { buildNeeded, buildPlan, parseConfig, type JobSpec } from "../../src/config/index.js";

const KEYS = ["cc", "mem", "variant"] as const;
const VALUES = ["x", "y", "z"] as const;
const ARCHES = ["x86_64", "arm64"] as const;

type Matrix = Record<string, string[]>;
interface Build {
  name: string;
  arch: (typeof ARCHES)[number];
  config: string[];
  targets: string[];
  matrix?: Matrix;
}
type Suite =
  { name: string; runner: "docker"; image: string; command: string } | { name: string; runner: "qemu"; build: string; arch: string; matrix?: Matrix };

const matrixOver = (keys: readonly string[]): fc.Arbitrary<Matrix> =>
  fc.tuple(...keys.map(() => fc.subarray([...VALUES], { minLength: 1 }))).map((lists) => Object.fromEntries(keys.map((key, i) => [key, lists[i]!])));

/** Builds with matrices over some keys, and suites that boot them with a value for each of the build's keys, and perhaps more keys. */
const config = fc
  .array(
    fc.record({
      arch: fc.constantFrom(...ARCHES),
      modules: fc.boolean(),
      matrix: fc.subarray([...KEYS]).chain((keys) => matrixOver(keys)),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .chain((shapes) => {
    const builds: Build[] = shapes.map((shape, i) => ({
      name: `k${i}`,
      arch: shape.arch,
      config: ["tinyconfig", "CONFIG_KUNIT=y"],
      targets: shape.modules ? ["kernel", "modules"] : ["kernel"],
      ...(Object.keys(shape.matrix).length ? { matrix: shape.matrix } : {}),
    }));
    const suite = (i: number): fc.Arbitrary<Suite> =>
      fc.oneof(
        fc.constant<Suite>({ name: `s${i}`, runner: "docker", image: "i", command: "true" }),
        fc.integer({ min: 0, max: builds.length - 1 }).chain((b) => {
          const build = builds[b]!;
          const own = Object.fromEntries(Object.entries(build.matrix ?? {}).map(([key, values]) => [key, fc.subarray(values, { minLength: 1 })]));
          const extra = fc.subarray(KEYS.filter((key) => !build.matrix?.[key])).chain((keys) => matrixOver(keys));
          return fc.tuple(fc.record(own), extra).map(([mine, more]): Suite => {
            const matrix = { ...mine, ...more } as Matrix;
            return { name: `s${i}`, runner: "qemu", build: build.name, arch: build.arch, ...(Object.keys(matrix).length ? { matrix } : {}) };
          });
        }),
      );
    return fc.tuple(fc.constant(builds), fc.tuple(...[0, 1, 2, 3].map(suite)));
  });

/** What every plan keeps to, whatever was selected: each job's build is a build job before it, of its arch, with its values on the build's keys. */
function checkGraph(jobs: readonly JobSpec[], builds: readonly Build[]): void {
  const at = new Map(jobs.map((job, index) => [job.id, index]));
  jobs.forEach((job, index) => {
    const needed = buildNeeded(job);
    if (job.runner === "build") {
      // Every build job comes before every job that boots anything.
      expect(jobs.slice(0, index).every((earlier) => earlier.runner === "build")).toBe(true);
      return;
    }
    if (needed === undefined) return;
    const buildIndex = at.get(needed);
    expect(buildIndex).toBeDefined();
    expect(buildIndex!).toBeLessThan(index);
    const buildJob = jobs[buildIndex!]!;
    expect(buildJob.runner).toBe("build");
    expect(buildJob.arch).toBe(job.arch);
    const build = builds.find((b) => b.name === buildJob.suite)!;
    for (const key of Object.keys(build.matrix ?? {})) expect(buildJob.matrix[key]).toBe(job.matrix[key]);
    if (job.runner === "qemu") {
      expect(job.kernel).toBe(job.arch === "arm64" ? "Image" : "bzImage");
      expect(job.modules).toBe(build.targets.includes("modules") ? "modules.tar.gz" : undefined);
    }
  });
}

describe("a plan with builds", () => {
  it("every job's build names a build job listed before it, of its arch, with the same values on the build's matrix keys; a selection brings in exactly the build jobs its suites boot", () => {
    fc.assert(
      fc.property(config, fc.subarray([0, 1, 2, 3]), ([builds, suites], chosen) => {
        const loaded = parseConfig(JSON.stringify({ version: 1, builds, suites }));
        const all = buildPlan(loaded);
        checkGraph(all.jobs, builds);
        const combinations = (matrix: Matrix | undefined) => Object.values(matrix ?? {}).reduce((n, values) => n * values.length, 1);
        expect(all.jobs.filter((job) => job.runner === "build")).toHaveLength(builds.reduce((n, b) => n + combinations(b.matrix), 0));

        const selected = buildPlan(loaded, { suites: chosen.map((i) => `s${i}`) });
        checkGraph(selected.jobs, builds);
        const booted = new Set(selected.jobs.flatMap((job) => buildNeeded(job) ?? []));
        expect(selected.jobs.filter((job) => job.runner === "build").map((job) => job.id)).toEqual(
          all.jobs.filter((job) => job.runner === "build" && booted.has(job.id)).map((job) => job.id),
        );
        expect(selected.jobs.filter((job) => job.runner !== "build")).toEqual(
          all.jobs.filter((job) => job.runner !== "build" && chosen.includes(Number(job.suite.slice(1)))),
        );
      }),
      { numRuns: 300 },
    );
  });
});
