import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { execa } from "execa";
import { decodeStackTrace, topFrameInTree, traceFrames } from "../../src/runners/build/decode-stack.js";
import { withTempDir } from "../helpers/job.js";

/** An x86 oops as 6.1 prints it, timestamps and all: where it stopped, then the call trace with an unsure frame and a module's. */
const oops = (size: number) =>
  [
    "[    1.000000] BUG: kernel NULL pointer dereference, address: 0000000000000000",
    "[    1.000001] Oops: 0000 [#1] PREEMPT SMP NOPTI",
    `[    1.000002] RIP: 0010:kto_crash+0x0/0x${size.toString(16)}`,
    "[    1.000003] Call Trace:",
    "[    1.000004]  <TASK>",
    "[    1.000005]  ? kto_unused+0x4/0x10",
    "[    1.000006]  some_module_fn+0x10/0x40 [kto_mod]",
    `[    1.000007]  main+0x0/0x${size.toString(16)}`,
    "[    1.000008]  </TASK>",
  ].join("\n");

describe("decoding a kernel's stack trace with its vmlinux", () => {
  it("reads the frames of the first oops: where it stopped, then the trace, no module frames", () => {
    expect(traceFrames(oops(0x20))).toEqual([
      { symbol: "kto_crash", offset: 0, size: 0x20, unreliable: false },
      { symbol: "kto_unused", offset: 4, size: 0x10, unreliable: true },
      { symbol: "main", offset: 0, size: 0x20, unreliable: false },
    ]);
    expect(traceFrames("Linux version 6.1\nok 1 - example\n")).toEqual([]);
  });

  it("decodes each frame to its file and line in the tree, as the build's paths name them", () =>
    withTempDir(async (dir) => {
      // A program built as a kernel is: its sources under the tree's mount in the debug info.
      await mkdir(join(dir, "src", "lib"), { recursive: true });
      await writeFile(join(dir, "src", "lib", "crash.c"), "int kto_crash(int *p)\n{\n\treturn *p;\n}\n\nint main(void)\n{\n\treturn kto_crash(0);\n}\n");
      const vmlinux = join(dir, "vmlinux");
      await execa("gcc", ["-g", "-O0", `-fdebug-prefix-map=${dir}/src=/src`, "-o", vmlinux, join(dir, "src", "lib", "crash.c")]);
      const size = parseInt(/\S+ (\S+) T kto_crash$/m.exec((await execa("nm", ["-S", vmlinux])).stdout)![1]!, 16);

      const frames = await decodeStackTrace(oops(size), vmlinux);
      expect(frames.map((f) => [f.symbol, f.place?.path, f.place?.line])).toEqual([
        ["kto_crash", "lib/crash.c", 2],
        ["kto_unused", undefined, undefined],
        ["main", "lib/crash.c", 7],
      ]);
      expect(topFrameInTree(frames)).toMatchObject({ symbol: "kto_crash", place: { path: "lib/crash.c", line: 2, inTree: true } });
    }));

  it("gives up on a vmlinux that binutils cannot get through in time: the tree's own build must not hold the job", () =>
    withTempDir(async (dir) => {
      // An nm that never ends, as one stuck on a crafted ELF would.
      await mkdir(join(dir, "bin"));
      await writeFile(join(dir, "bin", "nm"), "#!/bin/sh\nexec sleep 30\n", { mode: 0o755 });
      const path = process.env.PATH;
      process.env.PATH = `${join(dir, "bin")}:${path}`;
      try {
        await expect(decodeStackTrace(oops(16), join(dir, "vmlinux"), 300)).rejects.toThrow("nm did not finish within 0.3 s");
      } finally {
        process.env.PATH = path;
      }
    }));
});
