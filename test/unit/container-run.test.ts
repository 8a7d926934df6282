import { describe, expect, it } from "@jest/globals";
import type Docker from "dockerode";
import { waitWithLimits, type SetTimer } from "../../src/runners/container-run.js";

/** A container that runs until killed, whose kill the engine answers with `killStatus` (or obeys when none). */
function fakeContainer(killStatus?: number) {
  let exit: (status: { StatusCode: number }) => void = () => undefined;
  const exited = new Promise<{ StatusCode: number }>((resolve) => (exit = resolve));
  const kills: string[] = [];
  const container = {
    wait: () => exited,
    kill: ({ signal }: { signal: string }) => {
      kills.push(signal);
      if (killStatus === undefined) {
        exit({ StatusCode: 137 });
        return Promise.resolve();
      }
      // The engine refused; a 409 also means the container has stopped already.
      if (killStatus === 409) exit({ StatusCode: 137 });
      return Promise.reject(Object.assign(new Error(`(HTTP code ${killStatus}) refused`), { statusCode: killStatus }));
    },
  };
  return { container: container as unknown as Docker.Container, kills };
}

/** A timer that fires as soon as it is set: the limit is always already past. */
const firesAtOnce: SetTimer = (fn) => {
  queueMicrotask(fn);
  return () => undefined;
};

describe("waiting for a container within its limits", () => {
  it("kills it at its timeout and says so", async () => {
    const { container, kills } = fakeContainer();
    await expect(waitWithLimits(container, 1000, undefined, firesAtOnce)).resolves.toEqual({ exitCode: null, reason: "timeout" });
    expect(kills).toEqual(["SIGKILL"]);
  });

  it("takes a kill the engine answers with 409 (already stopped) as done", async () => {
    const { container } = fakeContainer(409);
    await expect(waitWithLimits(container, 1000, undefined, firesAtOnce)).resolves.toEqual({ exitCode: null, reason: "timeout" });
  });

  it("errors, rather than waiting on, when the kill at the timeout fails and the container may still run", async () => {
    const { container } = fakeContainer(500);
    await expect(waitWithLimits(container, 1000, undefined, firesAtOnce)).rejects.toThrow(
      "killing the container at the job's timeout failed: (HTTP code 500) refused",
    );
  });

  it("errors the same way when the kill at a cancellation fails", async () => {
    const { container } = fakeContainer(500);
    const never: SetTimer = () => () => undefined;
    await expect(waitWithLimits(container, 1000, AbortSignal.abort(), never)).rejects.toThrow("killing the container at the job's cancellation failed");
  });
});
