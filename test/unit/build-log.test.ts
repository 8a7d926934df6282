import { describe, expect, it } from "@jest/globals";
import { BoundedLog, LineSplitter } from "../../src/runners/build/build-log.js";

describe("a build log kept within bounds", () => {
  it("keeps everything when it fits", () => {
    const log = new BoundedLog(16, 32);
    log.write(Buffer.from("make: entering\n"));
    log.write(Buffer.from("  CC  init/main.o\n"));
    expect(log.contents().toString()).toBe("make: entering\n  CC  init/main.o\n");
    expect(log.truncated).toBe(false);
  });

  it("keeps the head and the tail of a runaway log and says how much it left out", () => {
    const log = new BoundedLog(8, 10);
    log.write(Buffer.from("HEADHEAD"));
    for (let i = 0; i < 1000; i += 1) log.write(Buffer.from(`line ${i}\n`));
    log.write(Buffer.from("TAIL-END!\n"));
    const text = log.contents().toString();
    expect(text.startsWith("HEADHEAD\n[kto: ")).toBe(true);
    expect(text.endsWith("TAIL-END!\n")).toBe(true);
    const dropped = log.bytesSeen - 8 - 10;
    expect(text).toContain(`[kto: ${dropped} bytes of the build log left out here]`);
    expect(log.truncated).toBe(true);
  });

  it("holds no more than its bounds however much is written, in chunks of any size", () => {
    const log = new BoundedLog(1024, 4096);
    const chunk = Buffer.alloc(64 * 1024, "x");
    for (let i = 0; i < 800; i += 1) log.write(i % 3 === 0 ? chunk : chunk.subarray(0, 7 + i));
    log.write(Buffer.from("last words"));
    const kept = log.contents();
    expect(log.bytesSeen).toBeGreaterThan(16 * 1024 * 1024);
    expect(kept.length).toBeLessThan(1024 + 4096 + 100);
    expect(kept.subarray(-10).toString()).toBe("last words");
  });
});

describe("cutting a stream into lines", () => {
  it("joins lines split across chunks and emits the last one at the end", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    splitter.write(Buffer.from("kernel/fork.c:12:3: err"));
    splitter.write(Buffer.from("or: x\r\n  CC  a.o\nlast"));
    splitter.end();
    expect(lines).toEqual(["kernel/fork.c:12:3: error: x", "  CC  a.o", "last"]);
  });

  it("cuts a line longer than its bound and goes on with the next", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line), 8);
    splitter.write(Buffer.from("0123456789abcdef"));
    splitter.write(Buffer.from("ghij\nnext\n"));
    expect(lines).toEqual(["01234567", "next"]);
  });
});
