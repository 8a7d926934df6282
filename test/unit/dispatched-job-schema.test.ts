import { describe, expect, it } from "@jest/globals";
import { dispatchedJobSchema } from "../../src/config/job-spec-schema.js";
import { bootsBuild } from "../helpers/job.js";

const file = (path: string) => ({ path, role: "kernel", size: 1, sha256: "a".repeat(64) });
const dispatched = (files: unknown[], extra: Record<string, unknown> = {}) => ({
  id: "p/kunit",
  attempt: 1,
  spec: bootsBuild("x86_64-kunit", { id: "kunit", slug: "kunit" }),
  build: { jobId: "p/x86_64-kunit", runId: "7", artifact: "kto-build-x86_64-kunit", files },
  ...extra,
});

describe("a dispatch's build handoff, as the action takes it", () => {
  it("takes output file names and the trust flag", () => {
    expect(dispatchedJobSchema.parse(dispatched([file("bzImage")], { trusted: true }))).toMatchObject({
      trusted: true,
      build: { files: [{ path: "bzImage" }] },
    });
  });

  it.each([".", "..", "../bzImage", "/etc/passwd", "a/b", ""])("refuses %j as an output's name: only a file of the build's output dir", (name) => {
    expect(dispatchedJobSchema.safeParse(dispatched([file(name)])).success).toBe(false);
  });

  it("refuses a trust flag that is not a boolean, and keys it does not know", () => {
    expect(dispatchedJobSchema.safeParse(dispatched([], { trusted: "yes" })).success).toBe(false);
    expect(dispatchedJobSchema.safeParse(dispatched([], { privileged: true })).success).toBe(false);
  });
});
