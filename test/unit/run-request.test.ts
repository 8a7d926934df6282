import { describe, expect, it } from "@jest/globals";
import { parseRunRequest, RunRequestError, shortRef } from "../../src/app/webhooks/run-request.js";

describe("run requests from repository_dispatch and the Run kto workflow", () => {
  it("takes a client payload's list and number as they are", () => {
    expect(parseRunRequest("payload", { ref: "main", suites: ["unit", "kunit"], priority: 4 })).toEqual({
      ref: "main",
      suites: ["unit", "kunit"],
      priority: 4,
    });
  });

  it("reads workflow inputs, which are always strings", () => {
    expect(parseRunRequest("inputs", { suites: "unit, kunit  boot", priority: "urgent", ref: "refs/heads/next" })).toEqual({
      ref: "refs/heads/next",
      suites: ["unit", "kunit", "boot"],
      priority: 4,
    });
    expect(parseRunRequest("inputs", { suites: "", priority: "7" })).toEqual({ priority: 7 });
    expect(parseRunRequest("inputs", { suites: "", priority: "" })).toEqual({});
    expect(parseRunRequest("inputs", undefined)).toEqual({});
  });

  it("names the field that is wrong", () => {
    expect(() => parseRunRequest("kto-run.yml inputs", { priority: "soon" })).toThrow(RunRequestError);
    expect(() => parseRunRequest("kto-run.yml inputs", { priority: "soon" })).toThrow(/^kto-run\.yml inputs: priority: /);
    expect(() => parseRunRequest("payload", { suites: [""] })).toThrow(/suites\.0/);
    expect(() => parseRunRequest("payload", { priority: 101 })).toThrow(/priority/);
  });

  it("groups a full ref with its branch name", () => {
    expect(shortRef("refs/heads/main")).toBe("main");
    expect(shortRef("refs/tags/v6.12")).toBe("v6.12");
    expect(shortRef("0123abc")).toBe("0123abc");
  });
});
