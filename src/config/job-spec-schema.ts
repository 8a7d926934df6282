import { z } from "zod";
import { DOCKER_DEVICES, LINUX_CAPABILITIES } from "./docker-access.js";
import { BUILD_TARGETS, BUILD_TOOLCHAINS, kernelConfigRecipeSchema } from "./build-schema.js";
import { GITHUB_JOB_MINUTES } from "./limits.js";
import { GUEST_ARCHES, RESULT_FORMATS } from "./schema.js";
import { BUILD_OUTPUT_ROLES, type BuildHandoff, type JobSpec } from "./job-spec.js";

const jobBase = {
  id: z.string().min(1),
  slug: z.string().regex(/^[A-Za-z0-9._-]+$/),
  suite: z.string().min(1),
  matrix: z.record(z.string()),
  env: z.record(z.string()),
  results: z.enum(RESULT_FORMATS),
  resultsFile: z.string().optional(),
  labels: z.array(z.string()),
  memoryBytes: z.number().int().positive().optional(),
  cpus: z.number().int().positive().optional(),
  timeoutMs: z.number().int().positive(),
  retries: z.number().int().min(0),
  priority: z.number().int(),
  artifacts: z.array(z.string()),
  network: z.boolean(),
  arch: z.enum(GUEST_ARCHES),
  idleTimeoutMs: z.number().int().positive(),
  checkRun: z.literal("suite").optional(),
};
const command = z.union([z.string(), z.array(z.string())]);

/** A JobSpec arriving from outside (the App's dispatch input): checked field by field, per runner. */
export const jobSpecSchema = z.discriminatedUnion("runner", [
  z
    .object({
      ...jobBase,
      runner: z.literal("docker"),
      image: z.string().min(1),
      command,
      user: z
        .string()
        .regex(/^\d+:\d+$/)
        .optional(),
      capabilities: z.array(z.enum(LINUX_CAPABILITIES)).optional(),
      devices: z.array(z.enum(DOCKER_DEVICES)).optional(),
    })
    .strict(),
  z
    .object({
      ...jobBase,
      runner: z.literal("qemu"),
      kernel: z.string().min(1),
      command: command.optional(),
      initramfs: z.string().optional(),
      modules: z.string().optional(),
      append: z.string().optional(),
      disk: z.string().optional(),
      build: z.string().min(1).optional(),
    })
    .strict(),
  z
    .object({
      ...jobBase,
      runner: z.literal("build"),
      toolchain: z.enum(BUILD_TOOLCHAINS),
      config: kernelConfigRecipeSchema,
      targets: z.array(z.enum(BUILD_TARGETS)).min(1),
      image: z.string().min(1).optional(),
    })
    .strict(),
]) satisfies z.ZodType<JobSpec>;

/** A build's outputs as a dispatch hands them to the job that boots them. */
export const buildHandoffSchema = z
  .object({
    jobId: z.string().min(1),
    runId: z.string().min(1).nullable(),
    artifact: z.string().min(1),
    files: z
      .array(
        z
          .object({
            path: z
              .string()
              .regex(/^[A-Za-z0-9._-]+$/, "expected a file name of the build's output dir")
              .refine((name) => name !== "." && name !== "..", "expected a file name of the build's output dir"),
            role: z.enum(BUILD_OUTPUT_ROLES),
            size: z.number().int().min(0),
            sha256: z.string().regex(/^[0-9a-f]{64}$/),
          })
          .strict(),
      )
      .max(BUILD_OUTPUT_ROLES.length),
  })
  .strict() satisfies z.ZodType<BuildHandoff>;

/** What the App dispatches: its store's job id and attempt, and the spec to run. */
export const dispatchedJobSchema = z
  .object({
    id: z.string().min(1),
    attempt: z.number().int().min(1),
    spec: jobSpecSchema,
    /** The run's own timeout, for the runner workflow; absent from an App that predates it. */
    timeoutMinutes: z.number().int().min(1).max(GITHUB_JOB_MINUTES).optional(),
    /** For a job that boots a build: where that build's outputs are. */
    build: buildHandoffSchema.optional(),
    /**
     * Whether the App's trust gate let the plan run without a maintainer's approval. Absent
     * means untrusted: a build then only reads the host's compiler cache.
     */
    trusted: z.boolean().optional(),
  })
  .strict();
export type DispatchedJob = z.infer<typeof dispatchedJobSchema>;
