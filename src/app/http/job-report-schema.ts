import { z } from "zod";
import { OUTCOMES, TERMINAL_STATES } from "../../config/job-spec.js";
import { buildHandoffSchema } from "../../config/job-spec-schema.js";
import { storedReport, type ReceivedReport } from "./stored-report.js";

const count = z.number().int().min(0);
const location = z.object({ file: z.string().min(1), line: z.number().int().min(1) });

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
    build: z.object({ files: buildHandoffSchema.shape.files }).optional(),
  })
  .transform((report: ReceivedReport) => storedReport(report));
