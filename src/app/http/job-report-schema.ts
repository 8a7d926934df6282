import { z } from "zod";
import { OUTCOMES, TERMINAL_STATES } from "../../config/job-spec.js";
import { buildHandoffSchema } from "../../config/job-spec-schema.js";
import { storedReport, type ReceivedReport } from "./stored-report.js";

const count = z.number().int().min(0);
const location = z.object({ file: z.string().min(1), line: z.number().int().min(1) });
const sourcePlace = z.object({ path: z.string(), line: z.number().int().min(1).nullable(), inTree: z.boolean() });

/** A build job's build, as src/runners/report/build-report.ts writes it. */
const buildReportSchema = z.object({
  counts: z.object({ errors: count, warnings: count }),
  diagnostics: z.array(
    z.object({
      severity: z.enum(["error", "warning"]),
      tool: z.enum(["compiler", "modpost", "objtool", "kconfig", "linker"]),
      place: sourcePlace.extend({ column: z.number().int().min(1).nullable() }).nullable(),
      message: z.string(),
      flag: z.string().nullable(),
      function: z.string().nullable(),
      includedFrom: z.array(sourcePlace),
      notes: z.array(z.string()),
    }),
  ),
  diagnosticsOmitted: count,
  ccacheHitRate: z.number().min(0).max(1).nullable(),
  droppedOptions: z.array(z.string()),
  files: buildHandoffSchema.shape.files,
  dir: z.string(),
  artifact: z.object({ name: z.string(), id: z.number().int().nullable(), url: z.string().url() }).nullable().optional(),
});

/**
 * A finished report's `result`, as the action writes it (src/runners/report/run-report.ts).
 * Checked when it arrives, so a check run is never built from a partial one; what is kept
 * of it is its stored, bounded form, fields the App does not know left out.
 */
export const jobReportSchema = z
  .object({
    name: z.string(),
    suite: z.string(),
    matrix: z.record(z.string()),
    runner: z.enum(["docker", "qemu", "build"]),
    status: z.enum(TERMINAL_STATES),
    outcome: z.enum(OUTCOMES),
    reason: z.string(),
    exitCode: z.number().int().nullable(),
    startedAt: z.string(),
    finishedAt: z.string(),
    durationMs: z.number().min(0),
    tests: z.object({ total: count, passed: count, failed: count, errored: count, skipped: count }),
    resultsFormat: z.string().nullable(),
    failures: z.array(
      z.object({ name: z.string(), path: z.array(z.string()), status: z.string(), reason: z.string().optional(), location: location.optional() }),
    ),
    slowest: z.array(z.object({ name: z.string(), path: z.array(z.string()), durationMs: z.number().min(0) })),
    metrics: z.object({
      wallMs: z.number(),
      cpuMs: z.number().nullable(),
      memoryPeakBytes: z.number().nullable(),
      bootMs: z.number().nullable().optional(),
      imagePullMs: z.number().optional(),
    }),
    boot: z.object({ path: z.enum(["fast", "standard"]), accelerator: z.enum(["kvm", "tcg"]), machine: z.string(), detail: z.string() }).optional(),
    dir: z.string(),
    logs: z.object({ stdout: z.string(), stderr: z.string(), console: z.string().optional() }),
    artifacts: z.array(z.object({ path: z.string(), source: z.enum(["job", "workspace"]), size: count, sha256: z.string() })),
    stdoutTruncated: z.boolean(),
    stderrTruncated: z.boolean(),
    /** Added by the action once the upload is done. */
    artifactUrl: z.string().url().nullable().optional(),
    /** A build job's: the outputs it hands on (what a dependent's dispatch carries). */
    build: buildReportSchema.optional(),
    /** Where the kernel stopped, when it oopsed or panicked: the top frame in the tree and the decoded trace. */
    crash: z.object({ location: location.nullable(), frames: z.array(z.string()) }).optional(),
  })
  .transform((report: ReceivedReport) => storedReport(report));
