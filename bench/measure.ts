import { performance } from "node:perf_hooks";

export interface Comparison {
  name: string;
  baseline: string;
  kto: number[];
  bare: number[];
  /** "—" where kto does more than the baseline (guest mode mounts and runs what a bare boot does not). */
  goal?: string;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Alternates the two sides so drift in the machine's load hits both alike. */
export async function compare(
  name: string,
  baseline: string,
  runs: number,
  kto: () => Promise<unknown>,
  bare: () => Promise<unknown>,
  progress: (line: string) => void,
): Promise<Comparison> {
  await kto(); // warm caches (image layers, extracted vmlinux, initramfs) on both sides
  await bare();
  const result: Comparison = { name, baseline, kto: [], bare: [] };
  for (let i = 0; i < runs; i++) {
    result.bare.push(await timed(bare));
    result.kto.push(await timed(kto));
    progress(`${name}: run ${i + 1}/${runs}: kto ${result.kto.at(-1)!.toFixed(0)} ms, bare ${result.bare.at(-1)!.toFixed(0)} ms`);
  }
  return result;
}

export function table(rows: readonly Comparison[]): string {
  const lines = ["| benchmark | baseline | kto median | baseline median | ratio (kto / baseline) | goal |", "|---|---|---|---|---|---|"];
  for (const row of rows) {
    const k = median(row.kto);
    const b = median(row.bare);
    lines.push(`| ${row.name} | ${row.baseline} | ${k.toFixed(0)} ms | ${b.toFixed(0)} ms | ${(k / b).toFixed(2)} | ${row.goal ?? "≤ 1.10"} |`);
  }
  return lines.join("\n");
}
