import { spawnProcess } from "../exec.js";
import { sourcePlace, type SourcePlace } from "./diagnostics.js";

/** One frame of a kernel's stack trace, and where in the source it is when vmlinux says. */
export interface StackFrame {
  symbol: string;
  offset: number;
  /** A frame the unwinder was not sure of (`? name+0x…`). */
  unreliable: boolean;
  place: SourcePlace | null;
}

/** The frames the decoding looks at; a trace deeper than this has its cause near the top. */
const MAX_FRAMES = 64;
const TIMESTAMP = /^\[\s*\d+\.\d+\]\s?/;
/** `RIP: 0010:name+0x5a/0x90`, `pc : name+0x5a/0x90` (arm64), or a Call trace line; a module's frame ends ` [module]`. */
const FRAME =
  /^(?:RIP: [0-9a-f]{4}:|pc : |lr : |\s+(?<unsure>\?\s+)?)(?<symbol>[A-Za-z_.$][\w.$]*)\+0x(?<offset>[0-9a-f]+)\/0x(?<size>[0-9a-f]+)(?<module> \[\S+\])?/;
const TRACE_START = /\b(Oops|BUG:|Kernel panic - not syncing|general protection fault|Unable to handle kernel)/;

/** The frames of the first oops or panic a console shows: where it stopped, then its call trace, built-in code only. */
export function traceFrames(console: string): (Omit<StackFrame, "place"> & { size: number })[] {
  const lines = console.split("\n").map((line) => line.replace(/\r$/, "").replace(TIMESTAMP, ""));
  const start = lines.findIndex((line) => TRACE_START.test(line));
  if (start < 0) return [];
  const frames: (Omit<StackFrame, "place"> & { size: number })[] = [];
  for (const line of lines.slice(start)) {
    const match = FRAME.exec(line);
    if (!match || match.groups!.module) continue;
    frames.push({
      symbol: match.groups!.symbol!,
      offset: parseInt(match.groups!.offset!, 16),
      size: parseInt(match.groups!.size!, 16),
      unreliable: !!match.groups!.unsure,
    });
    if (frames.length >= MAX_FRAMES) break;
  }
  return frames;
}

/**
 * How long nm or addr2line may take over one vmlinux. The file is the tree's own build, so a
 * crafted one must not hold the job: a real tinyconfig's takes well under a second, a
 * distribution kernel's with full debug info a few seconds.
 */
export const DECODE_TIMEOUT_MS = 60_000;

async function output(file: string, args: string[], timeoutMs: number): Promise<string> {
  const child = spawnProcess(file, args, { streamCapBytes: 64 * 1024 * 1024 });
  const timer = setTimeout(() => child.kill(), timeoutMs);
  const result = await child.done.finally(() => clearTimeout(timer));
  if (result.signal) throw new Error(`${file} did not finish within ${timeoutMs / 1000} s`);
  if (result.exitCode !== 0) throw new Error(`${file} failed: ${result.stderr.data.toString("utf8").trim()}`);
  return result.stdout.data.toString("utf8");
}

/**
 * Decodes a kernel console's stack trace to source lines with vmlinux, as the kernel's
 * scripts/decode_stacktrace.sh does: each symbol's address from `nm` (of two by one name,
 * the one of the size the trace prints), plus the offset, through binutils' `addr2line`.
 * A kernel built without debug info decodes to no places.
 */
export async function decodeStackTrace(console: string, vmlinux: string, timeoutMs = DECODE_TIMEOUT_MS): Promise<StackFrame[]> {
  const frames = traceFrames(console);
  if (frames.length === 0) return [];
  const wanted = new Set(frames.map((f) => f.symbol));
  const symbols = new Map<string, { address: bigint; size: number }[]>();
  for (const line of (await output("nm", ["-S", "--defined-only", vmlinux], timeoutMs)).split("\n")) {
    const [address, size, , name] = line.trim().split(/\s+/);
    if (!name || !size || !address || !wanted.has(name)) continue;
    symbols.set(name, [...(symbols.get(name) ?? []), { address: BigInt(`0x${address}`), size: parseInt(size, 16) }]);
  }
  const addresses = frames.map((frame) => {
    const candidates = symbols.get(frame.symbol) ?? [];
    const symbol = candidates.find((c) => c.size === frame.size) ?? candidates[0];
    return symbol ? `0x${(symbol.address + BigInt(frame.offset)).toString(16)}` : null;
  });
  const known = addresses.filter((a): a is string => a !== null);
  // One line per address (no -i: the outermost inlined caller is the frame's own function's line).
  const places = known.length ? (await output("addr2line", ["-e", vmlinux, ...known], timeoutMs)).split("\n") : [];
  let next = 0;
  return frames.map(({ symbol, offset, unreliable }, index) => {
    if (addresses[index] === null) return { symbol, offset, unreliable, place: null };
    const match = /^(?<file>.+):(?<line>\d+)(?: \(discriminator \d+\))?$/.exec(places[next++] ?? "");
    const place = match && match.groups!.file !== "??" ? sourcePlace(match.groups!.file!, Number(match.groups!.line)) : null;
    return { symbol, offset, unreliable, place };
  });
}

/** The frame a person looks at first: the first sure frame in the tree's own code. */
export function topFrameInTree(frames: readonly StackFrame[]): StackFrame | null {
  return frames.find((f) => !f.unreliable && f.place?.inTree && f.place.line !== null) ?? null;
}
