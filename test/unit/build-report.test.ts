import { describe, expect, it } from "@jest/globals";
import type { BuildJobResult } from "../../src/runners/build/build-job.js";
import type { BuildAnnotation } from "../../src/runners/build/diagnostics.js";
import { buildReport, buildSummaryLines, diagnosticLine, REPORTED_DIAGNOSTICS } from "../../src/runners/report/build-report.js";

function diagnostic(severity: "error" | "warning", line: number, message = `problem ${line}`): BuildAnnotation {
  return {
    severity,
    tool: "compiler",
    place: { path: "init/main.c", line, column: 5, inTree: true },
    message,
    flag: null,
    function: null,
    includedFrom: [],
    notes: [],
  };
}

function build(annotations: BuildAnnotation[], fields: Partial<BuildJobResult> = {}): BuildJobResult {
  const errors = annotations.filter((a) => a.severity === "error").length;
  return {
    build: "x86_64",
    status: "failed",
    outcome: "failed",
    reason: "the build failed",
    exitCode: 2,
    startedAt: new Date(0).toISOString(),
    durationMs: 1000,
    files: [{ path: "build.log", role: "log", size: 10, sha256: "a".repeat(64) }],
    diagnostics: { annotations, counts: { errors, warnings: annotations.length - errors }, truncated: false, diskFull: false },
    configWarnings: [
      {
        name: "CONFIG_EXT4_FS",
        value: "y",
        source: "config[3]",
        actual: null,
        message: "CONFIG_EXT4_FS=y was asked for (config[3]) but the final .config does not have it",
      },
    ],
    ccache: { hits: 3, misses: 1, hitRate: 0.75 },
    log: { path: "build.log", bytes: 10, truncated: false },
    dir: "build",
    ...fields,
  };
}

describe("a build's report", () => {
  it("lists errors before warnings, at most REPORTED_DIAGNOSTICS, and counts the rest", () => {
    const warnings = Array.from({ length: 60 }, (_, i) => diagnostic("warning", i + 1));
    const report = buildReport(build([...warnings, diagnostic("error", 100)]));
    expect(report.diagnostics).toHaveLength(REPORTED_DIAGNOSTICS);
    expect(report.diagnostics[0]).toMatchObject({ severity: "error", place: { line: 100 } });
    expect(report.diagnosticsOmitted).toBe(61 - REPORTED_DIAGNOSTICS);
    expect(report).toMatchObject({ counts: { errors: 1, warnings: 60 }, ccacheHitRate: 0.75, dir: "build" });
    expect(report.droppedOptions).toEqual(["CONFIG_EXT4_FS=y was asked for (config[3]) but the final .config does not have it"]);
  });

  it("says in the summary the counts, the hit rate, the first errors as file:line:col and the dropped options", () => {
    const text = buildSummaryLines("x86_64", buildReport(build([diagnostic("warning", 3), diagnostic("error", 12, "expected ';'")]))).join("\n");
    expect(text).toBe(
      [
        "### x86_64",
        "",
        "1 error, 1 warning; ccache: 75% hits.",
        "",
        "- `init/main.c:12:5: expected ';'`",
        "",
        "Options the final `.config` does not have:",
        "",
        "- CONFIG_EXT4_FS=y was asked for (config[3]) but the final .config does not have it",
        "",
        "Outputs in `build`: `build.log`.",
        "",
      ].join("\n"),
    );
  });

  it("keeps a compiler message with backticks and line breaks inside its code span", () => {
    const hostile = diagnostic("error", 1, "``` }\n# injected heading");
    const line = buildSummaryLines("x", buildReport(build([hostile]))).find((l) => l.startsWith("- "))!;
    expect(line).toBe("- ````init/main.c:1:5: ``` } # injected heading````");
    expect(diagnosticLine({ ...hostile, place: null })).toBe("``` }\n# injected heading");
  });
});
