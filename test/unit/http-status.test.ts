import { describe, expect, it } from "@jest/globals";
import { httpStatusOf } from "../../src/orchestrator/http-status.js";

describe("httpStatusOf", () => {
  it("reads the status an HTTP error carries, as Octokit's request errors do", () => {
    const error = Object.assign(new Error("Not Found"), { name: "HttpError", status: 404 });
    expect(httpStatusOf(error)).toBe(404);
  });

  it("has no status for an error that got no answer, or a status that is not a number", () => {
    expect(httpStatusOf(new Error("socket hang up"))).toBeUndefined();
    expect(httpStatusOf(Object.assign(new Error("odd"), { status: "404" }))).toBeUndefined();
    expect(httpStatusOf(null)).toBeUndefined();
    expect(httpStatusOf(undefined)).toBeUndefined();
    expect(httpStatusOf("a thrown string")).toBeUndefined();
  });
});
