import { describe, expect, it } from "@jest/globals";
import { buildsTrusted, runCcache } from "../../src/action/build-trust.js";
import type { DispatchedJob } from "../../src/config/job-spec-schema.js";
import { example } from "../helpers/webhook-examples.js";

const dispatched = (trusted?: boolean) => ({ id: "p/build", attempt: 1, spec: {}, ...(trusted === undefined ? {} : { trusted }) }) as unknown as DispatchedJob;

describe("who may write a host's compiler cache", () => {
  it("a dispatched job only when the App's trust gate let its plan through; absent means untrusted", () => {
    expect(buildsTrusted(dispatched(true))).toBe(true);
    expect(buildsTrusted(dispatched(false))).toBe(false);
    expect(buildsTrusted(dispatched())).toBe(false);
  });

  it("without the App, a pull request from a fork is untrusted and one from the repository's own branch is not", () => {
    const pull = example("pull_request", "opened") as { repository: { full_name: string }; pull_request: { head: { repo: { full_name: string } } } };
    expect(buildsTrusted(null, pull as unknown as Record<string, unknown>)).toBe(pull.pull_request.head.repo.full_name === pull.repository.full_name);
    const fork = structuredClone(pull);
    fork.pull_request.head.repo.full_name = "stranger/Hello-World";
    expect(buildsTrusted(null, fork as unknown as Record<string, unknown>)).toBe(false);
    expect(buildsTrusted(null, { repository: { full_name: "o/r" } })).toBe(true);
  });

  it("each repository has a cache of its own under the host's, read-only for untrusted code", () => {
    const env = { KTO_CCACHE_DIR: "/var/lib/kto/ccache", GITHUB_REPOSITORY: "octo-org/linux" };
    expect(runCcache(dispatched(true), env)).toEqual({ dir: "/var/lib/kto/ccache", maxSize: "5G", scope: "octo-org__linux", readOnly: false });
    expect(runCcache(dispatched(false), env)).toMatchObject({ scope: "octo-org__linux", readOnly: true });
  });
});
