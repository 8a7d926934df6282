import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { readCpio } from "../../src/runners/cpio.js";
import { baseInitramfs, GUEST_MODULES, locateModules } from "../../src/runners/guest-initramfs.js";
import { detectHost } from "../../src/runners/host-capabilities.js";
import { HOST_KERNEL, withTempDir } from "../helpers/job.js";

describe("guest initramfs", () => {
  it("carries busybox, a syntactically valid init and the 9p modules in load order, cached by content", async () => {
    const host = await detectHost("x86_64", { probe: false });
    await withTempDir(async (dir) => {
      const modulesDir = await locateModules(HOST_KERNEL);
      expect(modulesDir).not.toBeNull();
      const base = await baseInitramfs({ busybox: host.busybox!, modulesDir, cacheDir: dir });
      expect(base.modules).toEqual([...GUEST_MODULES]);
      const entries = readCpio(await readFile(base.path));
      const init = entries.find((e) => e.path === "init");
      expect(init?.kind).toBe("file");
      const script = join(dir, "init.sh");
      await writeFile(script, init!.kind === "file" ? init!.data : "");
      expect(() => execFileSync(host.busybox!, ["sh", "-n", script])).not.toThrow();
      const order = entries.find((e) => e.path === "kto/modules");
      expect(order?.kind === "file" && order.data.toString().trim().split("\n")).toEqual([...GUEST_MODULES]);
      const again = await baseInitramfs({ busybox: host.busybox!, modulesDir, cacheDir: dir });
      expect(again.path).toBe(base.path);
    });
  });
});
