import { describe, expect, it } from "@jest/globals";
import { buildPlan } from "../../src/config/build-plan.js";
import { ConfigError } from "../../src/config/errors.js";
import { parseConfig } from "../../src/config/load-config.js";

const suite = (extra: string) => `version: 1
defaults: { check_run: job }
suites:
  - name: unit
    runner: docker
    image: kto/busybox:1
    command: "true"
    matrix: { arch: [x86_64, arm64] }
${extra}`;

describe("check_run", () => {
  it("puts a suite's jobs in its one check run when it asks, and leaves the spec as it was when it does not", () => {
    expect(buildPlan(parseConfig(suite("    check_run: suite\n"))).jobs.map((j) => j.checkRun)).toEqual(["suite", "suite"]);
    expect(buildPlan(parseConfig(suite(""))).jobs.every((j) => !("checkRun" in j))).toBe(true);
  });

  it("names the file, line and column of a value that is neither job nor suite", () => {
    const error = (() => {
      try {
        parseConfig(suite("    check_run: workflow\n"), ".github/kto.yml");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([expect.objectContaining({ file: ".github/kto.yml", line: 9, column: 16, path: "suites[0].check_run" })]);
  });
});
