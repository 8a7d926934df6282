import { performance } from "node:perf_hooks";
import { parseResults } from "../src/runners/results/detect.js";
import { median } from "./measure.js";

/** One unit of each shape of input, repeated to scale: time must grow with size, not faster. */
const SHAPES: Record<string, (n: number) => string> = {
  "KUnit KTAP (nested suites, diagnostics)": (n) =>
    [
      "KTAP version 1",
      `1..${n}`,
      ...Array.from({ length: n }, (_, i) =>
        [
          `    KTAP version 1`,
          `    # Subtest: suite${i}`,
          "    1..2",
          "    # case_a: EXPECTATION FAILED at lib/x.c:12",
          "    not ok 1 case_a",
          "    ok 2 case_b",
          `not ok ${i + 1} suite${i}`,
        ].join("\n"),
      ),
    ].join("\n"),
  "kselftest TAP (relayed # ok lines)": (n) =>
    [
      "TAP version 13",
      `1..${n}`,
      ...Array.from({ length: n }, (_, i) =>
        [`# selftests: net: prog${i}`, "# ok 1 a", "# not ok 2 b", `not ok ${i + 1} selftests: net: prog${i} # exit=1`].join("\n"),
      ),
    ].join("\n"),
  "blank lines and noise (the quadratic case)": (n) => `${"\n".repeat(n * 20)}TAP version 14\n1..1\nok 1 x\n`,
};

function timeParse(text: string): number {
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    parseResults(text);
    runs.push(performance.now() - start);
  }
  return median(runs);
}

/** Parse time at 1×, 10× and 100× the input; a linear parser shows ratios near 10 and 100. */
export function parserScalingBenchmark(progress: (line: string) => void): string {
  const base = 1_000;
  const rows = ["| input | 1× | 10× | 100× | 10× / 1× | 100× / 1× |", "|---|---|---|---|---|---|"];
  for (const [name, make] of Object.entries(SHAPES)) {
    const [one, ten, hundred] = [1, 10, 100].map((scale) => timeParse(make(base * scale)));
    progress(`parsers: ${name}: ${one!.toFixed(1)} / ${ten!.toFixed(1)} / ${hundred!.toFixed(1)} ms`);
    rows.push(
      `| ${name} | ${one!.toFixed(1)} ms | ${ten!.toFixed(1)} ms | ${hundred!.toFixed(1)} ms | ${(ten! / one!).toFixed(1)} | ${(hundred! / one!).toFixed(1)} |`,
    );
  }
  return ["## Result parsers", "", "Median of 5 parses; linear time shows ratios near 10 and 100.", "", ...rows, ""].join("\n");
}
