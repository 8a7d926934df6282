import { symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { JobInputError } from "../../src/runners/errors.js";
import { confinedInput } from "../../src/runners/qemu-inputs.js";
import { withTempDir } from "../helpers/job.js";

describe("a QEMU job's input path", () => {
  it("that does not exist is said to be missing; one that cannot be resolved says why", async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, "bzImage"), "kernel");
      expect(await confinedInput("kernel", "bzImage", { workspace: dir, kind: "file", roots: [dir] })).toBe(join(dir, "bzImage"));
      await expect(confinedInput("kernel", "out/bzImage", { workspace: dir, kind: "file", roots: [dir] })).rejects.toThrow(
        new JobInputError("kernel", join(dir, "out/bzImage"), "no such file"),
      );
      await symlink("loop", join(dir, "loop"));
      const looped = await confinedInput("kernel", "loop", { workspace: dir, kind: "file", roots: [dir] }).catch((error: unknown) => error);
      expect(looped).toBeInstanceOf(JobInputError);
      expect((looped as Error).message).toMatch(/^kernel: .*\/loop: cannot be resolved \(ELOOP: too many symbolic links encountered/);
    });
  });
});
