import { mkdir, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { execa } from "execa";
import { sha256 } from "../../src/runners/artifacts.js";
import { BuildHandoffError, checkBuildOutputs, namedOutput, unpackModules } from "../../src/runners/build/build-handoff.js";
import { keepOutputs, pruneOutputs, STORE_KEEP_MS, takeOutputs } from "../../src/runners/build/output-store.js";
import { JobInputError } from "../../src/runners/errors.js";
import { withTempDir } from "../helpers/job.js";

describe("a build's handed-on outputs", () => {
  it("are used only when every file is a regular file of the size and digest the build recorded", () =>
    withTempDir(async (dir) => {
      await writeFile(join(dir, "bzImage"), "kernel");
      const file = { path: "bzImage", role: "kernel" as const, size: 6, sha256: await sha256(join(dir, "bzImage")) };
      await expect(checkBuildOutputs({ dir, files: [file] })).resolves.toBeUndefined();
      await expect(checkBuildOutputs({ dir, files: [{ ...file, size: 7 }] })).rejects.toThrow("the build's bzImage has 6 bytes, the build made 7");
      await expect(checkBuildOutputs({ dir, files: [{ ...file, path: "vmlinux" }] })).rejects.toThrow("the build's vmlinux is missing");
      await symlink(join(dir, "bzImage"), join(dir, "linked"));
      const linked = checkBuildOutputs({ dir, files: [{ ...file, path: "linked" }] });
      await expect(linked).rejects.toBeInstanceOf(BuildHandoffError);
      await expect(linked).rejects.toThrow("the build's linked is not a regular file");
    }));

  it("name a job's kernel only among the files the build handed on", () => {
    const outputs = { dir: "/nowhere", files: [{ path: "bzImage", role: "kernel" as const, size: 1, sha256: "0".repeat(64) }] };
    expect(namedOutput("kernel", "bzImage", outputs).role).toBe("kernel");
    expect(() => namedOutput("kernel", "../etc/passwd", outputs)).toThrow(JobInputError);
    expect(() => namedOutput("kernel", "vmlinux", outputs)).toThrow("kernel: vmlinux: not among the build's outputs (bzImage)");
  });

  it("unpacks a modules archive without the symlinks modules_install leaves into the tree", () =>
    withTempDir(async (dir) => {
      const release = join(dir, "staging", "lib", "modules", "6.1.0-kto");
      await mkdir(join(release, "kernel"), { recursive: true });
      await writeFile(join(release, "kernel", "9p.ko"), "module");
      await symlink("/etc", join(release, "build"));
      await execa("tar", ["-C", join(dir, "staging"), "-czf", join(dir, "modules.tar.gz"), "lib"]);
      const unpacked = await unpackModules(join(dir, "modules.tar.gz"), join(dir, "out"));
      expect(unpacked).toBe(join(dir, "out", "lib", "modules", "6.1.0-kto"));
      expect((await readdir(unpacked!)).sort()).toEqual(["kernel"]);
      await writeFile(join(dir, "not-an-archive.tar.gz"), "no");
      await expect(unpackModules(join(dir, "not-an-archive.tar.gz"), join(dir, "bad"))).rejects.toBeInstanceOf(BuildHandoffError);
    }));
});

describe("a host's store of build outputs", () => {
  it("keeps each output under its digest, hands a copy on only when it still matches, and prunes what no job used", () =>
    withTempDir(async (dir) => {
      const built = join(dir, "built");
      const store = join(dir, "store");
      await mkdir(built);
      await writeFile(join(built, "bzImage"), "kernel");
      const file = { path: "bzImage", role: "kernel" as const, size: 6, sha256: await sha256(join(built, "bzImage")) };
      await keepOutputs(store, { dir: built, files: [file] });
      expect(await readdir(store)).toEqual([file.sha256]);

      const taken = await takeOutputs(store, [file], join(dir, "job"));
      expect(taken).toEqual({ dir: join(dir, "job"), files: [file] });
      await expect(checkBuildOutputs(taken!)).resolves.toBeUndefined();

      // A copy changed in the store is removed, not handed on.
      await rm(join(store, file.sha256));
      await writeFile(join(store, file.sha256), "kernal");
      expect(await takeOutputs(store, [file], join(dir, "job2"))).toBeNull();
      expect(await readdir(store)).toEqual([]);
      expect(await takeOutputs(store, [file], join(dir, "job3"))).toBeNull();

      await keepOutputs(store, { dir: built, files: [file] });
      expect(await pruneOutputs(store, STORE_KEEP_MS)).toBe(0);
      expect(await pruneOutputs(store, STORE_KEEP_MS, Date.now() + STORE_KEEP_MS + 1000)).toBe(1);
      expect(await readdir(store)).toEqual([]);
    }));
});
