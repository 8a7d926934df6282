import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { readState, writeState, type BisectArgs, type BisectState } from "../../src/cli/bisect/state.js";
import { withTempDir } from "../helpers/job.js";

const args: BisectArgs = { good: "a".repeat(40), bad: "b".repeat(40), config: "kto.yml", suites: [], test: "alpha", runs: 1 };
const state: BisectState = { version: 1, args, steps: [{ commit: "b".repeat(40), runs: [{ verdict: "fail", reason: "unit › alpha failed", seconds: 0.6 }] }] };

describe("a bisection's resume state", () => {
  it("reads back what was written, leaving no temporary file beside it", () =>
    withTempDir(async (dir) => {
      const file = join(dir, "kto-bisect", "state.json");
      await writeState(file, state);
      expect(await readState(file, args)).toEqual(state);
      expect(await readdir(join(dir, "kto-bisect"))).toEqual(["state.json"]);
    }));

  it("refuses a resume with other arguments, naming what differs", () =>
    withTempDir(async (dir) => {
      const file = join(dir, "state.json");
      await writeState(file, state);
      await expect(readState(file, { ...args, runs: 3, test: null })).rejects.toThrow(
        '--resume: the interrupted bisection had other arguments (test: "alpha", runs: 1); give the same ones, or start again without --resume',
      );
    }));

  it("refuses a state that is not one, naming the field, and says when there is none", () =>
    withTempDir(async (dir) => {
      const file = join(dir, "state.json");
      await expect(readState(file, args)).rejects.toThrow("--resume: no interrupted bisection to resume in this repository");
      await writeFile(file, "{");
      await expect(readState(file, args)).rejects.toThrow("is not JSON");
      const text = JSON.parse(JSON.stringify(state)) as { steps: { runs: { verdict: string }[] }[] };
      text.steps[0]!.runs[0]!.verdict = "maybe";
      await writeFile(file, JSON.stringify(text));
      await expect(readState(file, args)).rejects.toThrow(/state\.json: steps\.0\.runs\.0\.verdict: Invalid enum value/);
      expect(JSON.parse(await readFile(file, "utf8"))).toEqual(text);
    }));
});
