import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { buildNeeded, buildPlan, ConfigError, parseConfig } from "../../src/config/index.js";
import { jobSpecSchema } from "../../src/config/job-spec-schema.js";
import { FILE, yamlish } from "./config-fuzz-inputs.js";

// Field names dotted, indices and other keys bracketed: `suites[0].env["A B"]`.
const QUOTED = String.raw`\["(?:[^"\\]|\\.)*"\]`;
const PATH = new RegExp(String.raw`^(?:[A-Za-z_][\w-]*|\[\d+\]|${QUOTED})(?:\.[A-Za-z_][\w-]*|\[\d+\]|${QUOTED})*$`);

describe("config parsing and planning under arbitrary input", () => {
  it("throws nothing but ConfigError, and every issue has a position inside the text and a field path", () => {
    fc.assert(
      fc.property(yamlish, (source) => {
        const lines = source.split(/\r\n|\r|\n/).length;
        let plan;
        try {
          plan = buildPlan(parseConfig(source, FILE));
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          expect(error.issues.length).toBeGreaterThan(0);
          for (const issue of error.issues) {
            expect(issue.file).toBe(FILE);
            expect(Number.isInteger(issue.line) && issue.line >= 1 && issue.line <= lines).toBe(true);
            expect(Number.isInteger(issue.column) && issue.column >= 1).toBe(true);
            expect(issue.path === "" || PATH.test(issue.path)).toBe(true);
            expect(issue.message).toMatch(/^\S.*$/);
          }
          return;
        }
        // Whatever got through is a plan the App can store and dispatch.
        expect(new Set(plan.jobs.map((j) => j.slug)).size).toBe(plan.jobs.length);
        expect(new Set(plan.jobs.map((j) => j.id)).size).toBe(plan.jobs.length);
        for (const job of plan.jobs) expect(job.timeoutMs).toBeLessThanOrEqual(2 ** 31 - 1);
        // Every job the Action takes as it is, and every build a job waits for is a build job of the plan.
        const builds = new Set(plan.jobs.flatMap((job) => (job.runner === "build" ? [job.id] : [])));
        for (const job of plan.jobs) {
          expect(jobSpecSchema.safeParse(JSON.parse(JSON.stringify(job))).success).toBe(true);
          const needed = buildNeeded(job);
          if (needed !== undefined) expect(builds.has(needed)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});
