import { describe, expect, it } from "@jest/globals";
import { checkRequest } from "../helpers/github-api-double.js";

const auth = { authorization: "token t" };

describe("the GitHub API double's contract check (GitHub's OpenAPI description)", () => {
  it("accepts a well-formed check run and names its operation and parameters", () => {
    const checked = checkRequest("POST", "/repos/o/r/check-runs", auth, JSON.stringify({ name: "kto / unit", head_sha: "a".repeat(40), status: "completed", conclusion: "success" }));
    expect(checked).toMatchObject({ operationId: "checks/create", params: { owner: "o", repo: "r" } });
  });

  it("rejects what GitHub would reject", () => {
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, JSON.stringify({ head_sha: "abc" }))).toThrow(/^422: checks\/create: .*must have required property 'name'/);
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, JSON.stringify({ name: "x", head_sha: "a", conclusion: "great" }))).toThrow(/^422: .*conclusion must be equal to one of the allowed values/);
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", {}, "{}")).toThrow(/^401/);
    expect(() => checkRequest("POST", "/repos/o/r/no-such-thing", auth, "{}")).toThrow(/^404/);
  });
});
