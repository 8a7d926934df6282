import { z } from "zod";
import { DOCKER_DEVICES, isRootUser, normaliseCapability, parseUser } from "./docker-access.js";
import { durationText, parseDuration } from "./duration.js";
import { privilegeAllowanceSchema } from "./privileges.js";
import { JOB_LIMITS, MAX_IDLE_TIMEOUT_MS, MAX_TIMEOUT_MS } from "./limits.js";
import { parseSize } from "./size.js";

/** A string (or number) read by `parse`; null from it means malformed, reported with `message`. */
function parsedWith<T>(parse: (value: string | number) => T | null, message: string) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const parsed = parse(value);
    if (parsed === null) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message });
      return z.NEVER;
    }
    return parsed;
  });
}

/** A duration up to `maxMs`. */
function durationUpTo(maxMs: number) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === null || ms > maxMs) {
      const given = typeof value === "number" ? `${value}s` : value.trim();
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: ms === null ? "expected a duration like 20m" : `at most ${durationText(maxMs)}, got ${given}` });
      return z.NEVER;
    }
    return ms;
  });
}

const timeout = durationUpTo(MAX_TIMEOUT_MS);
const idleTimeout = durationUpTo(MAX_IDLE_TIMEOUT_MS);
const size = parsedWith(parseSize, "expected a size like 2G or 512M");
const user = parsedWith(parseUser, "expected root, a uid or uid:gid (numbers)");
const capability = parsedWith((value) => normaliseCapability(String(value)), "expected a Linux capability such as NET_ADMIN or CAP_SYS_ADMIN");

export const PRIORITIES = { low: 1, normal: 2, high: 3, urgent: 4 } as const;
export type PriorityName = keyof typeof PRIORITIES;
const priority = z.union([z.enum(["low", "normal", "high", "urgent"]).transform((name) => PRIORITIES[name]), z.number().int().min(0).max(100)]);

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "expected a name of letters, digits, '.', '_' and '-'");

/** A string run with /bin/sh -c (like a workflow's `run:`), or an argv list run as it is. */
const command = z.union([z.string().min(1, "expected a non-empty command"), z.array(z.string()).min(1)]);

const matrixValue = z.union([z.string(), z.number(), z.boolean()]);

const hardware = z
  .object({
    labels: z.array(z.string().min(1)).default([]),
    memory: size.optional(),
    cpus: z.number().int().min(1).max(256).optional(),
  })
  .strict();

/**
 * Guest architectures kto boots. riscv64 waits for a Debian release that ships a riscv64
 * kernel and busybox (Debian 12 has neither), so nothing here could test it.
 */
export const GUEST_ARCHES = ["x86_64", "arm64"] as const;
export type GuestArch = (typeof GUEST_ARCHES)[number];

export const RESULT_FORMATS = ["auto", "ktap", "tap", "junit", "none"] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

const suiteFields = {
  name,
  runner: z.enum(["docker", "qemu"]),
  command: command.optional(),
  results: z.enum(RESULT_FORMATS).default("auto"),
  /** A file under the results dir to parse instead of the output (JUnit XML usually). */
  results_file: z.string().min(1).optional(),
  hardware: hardware.default({}),
  timeout: timeout.optional(),
  retries: z.number().int().min(0).max(10).optional(),
  priority: priority.optional(),
  artifacts: z.array(z.string().min(1)).default([]),
  matrix: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "expected a matrix key of letters, digits, '_' and '-'"), z.array(matrixValue).min(1))
    .optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name"), z.string()).default({}),
  // Docker
  image: z.string().min(1).optional(),
  network: z.boolean().default(false),
  /** Default nobody (65534:65534). */
  user: user.optional(),
  /** Added back after every capability is dropped. */
  capabilities: z
    .array(capability)
    .transform((list) => [...new Set(list)])
    .optional(),
  devices: z.array(z.enum(DOCKER_DEVICES)).optional(),
  /** Named so that asking for it gets the way out instead of an "unknown field". */
  privileged: z
    .custom<never>(() => false, {
      message: "kto never runs privileged containers: list what the suite needs under capabilities (and devices) instead",
    })
    .optional(),
  // QEMU
  arch: z.enum(GUEST_ARCHES).default("x86_64"),
  kernel: z.string().min(1).optional(),
  initramfs: z.string().min(1).optional(),
  modules: z.string().min(1).optional(),
  append: z.string().optional(),
  disk: z.string().min(1).optional(),
  idle_timeout: idleTimeout.optional(),
};

export const suiteSchema = z
  .object(suiteFields)
  .strict()
  .superRefine((suite, ctx) => {
    if (suite.runner === "docker") {
      if (!suite.image) ctx.addIssue({ code: "custom", path: ["image"], message: "a docker suite needs an image" });
      if (!suite.command) ctx.addIssue({ code: "custom", path: ["command"], message: "a docker suite needs a command" });
      for (const field of ["kernel", "initramfs", "modules", "append", "disk", "idle_timeout"] as const) {
        if (suite[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: `${field} applies to qemu suites only` });
      }
      if (suite.capabilities?.length && !(suite.user && isRootUser(suite.user)))
        ctx.addIssue({
          code: "custom",
          path: ["capabilities"],
          message: "capabilities reach only a job running as root: add user: root",
        });
    } else {
      if (!suite.kernel) ctx.addIssue({ code: "custom", path: ["kernel"], message: "a qemu suite needs a kernel" });
      if (!suite.initramfs && !suite.command)
        ctx.addIssue({
          code: "custom",
          path: ["command"],
          message: "a qemu suite needs a command (kto's guest mode) or its own initramfs",
        });
      for (const field of ["image", "user", "capabilities", "devices"] as const) {
        if (suite[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: `${field} applies to docker suites only` });
      }
    }
  });

/** A config may lower a job cap or raise it up to its ceiling, the bound on any config: the App holds a plan that is not trusted to its base branch's caps. */
function jobLimit(name: keyof typeof JOB_LIMITS) {
  const { default: byDefault, ceiling } = JOB_LIMITS[name];
  return z.number().int().min(1).max(ceiling, `at most ${ceiling}, kto's ceiling (a pull request's config cannot go past it)`).default(byDefault);
}

const suiteSelection = z.union([z.literal("all"), z.array(name)]);

export const configSchema = z
  .object({
    version: z.literal(1, { errorMap: () => ({ message: "expected version: 1" }) }),
    defaults: z
      .object({
        timeout: timeout.default("20m"),
        retries: z.number().int().min(0).max(10).default(0),
        priority: priority.default("normal"),
        idle_timeout: idleTimeout.default("2m"),
      })
      .strict()
      .default({}),
    suites: z.array(suiteSchema).min(1, "expected at least one suite"),
    triggers: z
      .object({ pull_request: suiteSelection.default("all"), dispatch: suiteSelection.default("all") })
      .strict()
      .default({}),
    limits: z
      .object({ jobs_per_suite: jobLimit("jobs_per_suite"), jobs_per_plan: jobLimit("jobs_per_plan") })
      .strict()
      .default({}),
    trust: z
      .object({
        ok_to_test_label: z.string().min(1).default("kto/ok-to-test"),
        trusted_associations: z
          .array(z.enum(["OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "NONE"]))
          .default(["OWNER", "MEMBER", "COLLABORATOR"]),
      })
      .strict()
      .default({}),
    /** Read by the App from the base branch: what the head's suites may ask for, within each runner host's policy. */
    privileges: privilegeAllowanceSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.suites.forEach((suite, index) => {
      const first = seen.get(suite.name);
      if (first !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["suites", index, "name"],
          message: `duplicate suite name (first at suites[${first}])`,
        });
      else seen.set(suite.name, index);
    });
    for (const trigger of ["pull_request", "dispatch"] as const) {
      const selection = config.triggers[trigger];
      if (selection === "all") continue;
      selection.forEach((suiteName, index) => {
        if (!seen.has(suiteName))
          ctx.addIssue({
            code: "custom",
            path: ["triggers", trigger, index],
            message: `no suite named "${suiteName}"`,
          });
      });
    }
  });

export type KtoConfig = z.output<typeof configSchema>;
export type SuiteConfig = z.output<typeof suiteSchema>;
