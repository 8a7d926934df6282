import { readFileSync } from "node:fs";
import { describe, expect, it } from "@jest/globals";
import { MAX_ANNOTATIONS, parseBuildLog } from "../../src/runners/build/diagnostics.js";

/** Logs of real builds in kto/builder:1, the tree mounted at /src and make's output at /out. */
const log = (name: string) => readFileSync(new URL(`../fixtures/build-logs/${name}`, import.meta.url), "utf8");

describe("reading a kernel build's log into annotations", () => {
  it("reads Kconfig's warnings once each, at Kconfig files relative to the tree and with their detail lines", () => {
    const parsed = parseBuildLog(log("kconfig-olddefconfig.log"));
    expect(parsed.annotations).toEqual([
      expect.objectContaining({
        severity: "warning",
        tool: "kconfig",
        place: { path: "lib/kunit/Kconfig", line: 84, column: null, inTree: true },
        message: "config symbol defined without type",
      }),
      expect.objectContaining({
        tool: "kconfig",
        place: { path: ".config", line: 1310, column: null, inTree: false },
        message: "override: UNWINDER_GUESS changes choice state",
      }),
      expect.objectContaining({
        severity: "warning",
        tool: "kconfig",
        place: null,
        message: "unmet direct dependencies detected for KTO_NEEDS_BLOCK",
        notes: ["Depends on [n]: BLOCK [=n]", "Selected by [y]:", "- KTO_SELECTS_UNMET [=y]"],
      }),
    ]);
    expect(parsed.counts).toEqual({ errors: 0, warnings: 3 });
  });

  it("reads gcc's errors and warnings with their include chain, function, note and option, paths relative to the tree", () => {
    const parsed = parseBuildLog(log("gcc-planted-error.log"));
    const compiler = parsed.annotations.filter((a) => a.tool === "compiler");
    expect(compiler.map((a) => [a.severity, `${a.place?.path}:${a.place?.line}:${a.place?.column}`, a.function, a.flag, a.message])).toEqual([
      ["error", "lib/kunit/kto_planted.h:3:16", "kto_header_broken", null, "‘kto_missing_in_header’ undeclared (first use in this function)"],
      ["error", "lib/kunit/kunit-example-test.c:184:16", "kto_planted", null, "‘kto_undeclared’ undeclared (first use in this function)"],
      ["warning", "lib/kunit/kunit-example-test.c:183:13", "kto_planted", "-Wunused-variable", "unused variable ‘kto_unused’"],
      ["error", "lib/kunit/kunit-example-test.c:185:1", "kto_planted", "-Werror=return-type", "control reaches end of non-void function"],
    ]);
    expect(compiler[0]).toMatchObject({
      includedFrom: [{ path: "lib/kunit/kunit-example-test.c", line: 180, inTree: true }],
      notes: ["lib/kunit/kto_planted.h:3: each undeclared identifier is reported only once for each function it appears in"],
    });
    expect(compiler.slice(1).map((a) => a.includedFrom)).toEqual([[], [], []]);
    expect(parsed.counts).toEqual({ errors: 3, warnings: 2 });
    expect(parsed.diskFull).toBe(false);
  });

  it("reads clang's errors, with the include chain it prints the way gcc does", () => {
    const parsed = parseBuildLog(log("clang-planted-error.log"));
    expect(parsed.annotations.map((a) => [a.severity, a.tool, `${a.place?.path}:${a.place?.line}:${a.place?.column}`, a.message])).toEqual([
      ["warning", "kconfig", ".config:1307:null", "override: UNWINDER_GUESS changes choice state"],
      ["error", "compiler", "lib/kunit/kto_planted.h:3:9", "use of undeclared identifier 'kto_missing_in_header'"],
      ["error", "compiler", "lib/kunit/kunit-example-test.c:184:9", "use of undeclared identifier 'kto_undeclared'"],
    ]);
    expect(parsed.annotations.map((a) => a.includedFrom)).toEqual([[], [{ path: "lib/kunit/kunit-example-test.c", line: 180, inTree: true }], []]);
  });

  it("names the function only for what gcc says is in it", () => {
    const parsed = parseBuildLog(
      [
        "/src/init/main.c: In function ‘start_kernel’:",
        "/src/init/main.c:900:6: warning: unused variable ‘x’ [-Wunused-variable]",
        "/src/init/main.c: At top level:",
        "/src/init/main.c:1200:13: warning: ‘kto_helper’ defined but not used [-Wunused-function]",
      ].join("\n"),
    );
    expect(parsed.annotations.map((a) => [a.place?.line, a.function])).toEqual([
      [900, "start_kernel"],
      [1200, null],
    ]);
  });

  // In the formats of 6.1's scripts/mod/modpost.c (modpost_log), tools/objtool/include/objtool/warn.h
  // (WARN, WARN_FUNC) and GNU ld; seeing them for real takes a modules build of a broken tree.
  it("reads modpost, objtool and linker messages, objects named by their place in the output dir", () => {
    const parsed = parseBuildLog(
      [
        "  MODPOST Module.symvers",
        'ERROR: modpost: "kto_missing" [lib/kunit/kunit-example-test.ko] undefined!',
        "WARNING: modpost: vmlinux.o: section mismatch in reference: kto_init (section: .text) -> kto_data (section: .init.data)",
        "lib/kunit/kunit-example-test.o: warning: objtool: kto_planted+0x1c: unreachable instruction",
        "ld: vmlinux.o: in function `kto_planted':",
        "/src/lib/kunit/kunit-example-test.c:186: undefined reference to `kto_nowhere'",
        "ld.lld: error: undefined symbol: kto_elsewhere",
      ].join("\n"),
    );
    expect(parsed.annotations.map((a) => [a.severity, a.tool, a.place && `${a.place.path}:${a.place.line}:${a.place.inTree}`, a.message])).toEqual([
      ["error", "modpost", null, '"kto_missing" [lib/kunit/kunit-example-test.ko] undefined!'],
      ["warning", "modpost", null, "vmlinux.o: section mismatch in reference: kto_init (section: .text) -> kto_data (section: .init.data)"],
      ["warning", "objtool", "lib/kunit/kunit-example-test.o:null:false", "kto_planted+0x1c: unreachable instruction"],
      ["error", "linker", "lib/kunit/kunit-example-test.c:186:true", "undefined reference to `kto_nowhere'"],
      ["error", "linker", null, "undefined symbol: kto_elsewhere"],
    ]);
    expect(parsed.counts).toEqual({ errors: 3, warnings: 2 });
  });

  it("keeps a bounded number of annotations from a log of any length, counting the rest, and notices a full disk", () => {
    const lines = Array.from({ length: MAX_ANNOTATIONS + 50 }, (_, i) => `/src/drivers/kto/file${i}.c:1:1: warning: unused variable 'x' [-Wunused-variable]`);
    lines.push("/out/include/generated/kto.h: No space left on device");
    const parsed = parseBuildLog(lines.join("\n"));
    expect(parsed.annotations).toHaveLength(MAX_ANNOTATIONS);
    expect(parsed).toMatchObject({ counts: { errors: 0, warnings: MAX_ANNOTATIONS + 50 }, truncated: true, diskFull: true });
  });
});
