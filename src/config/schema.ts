import { z } from "zod";
import { buildListSchema } from "./build-schema.js";
import { isRootUser } from "./docker-access.js";
import { listedNames } from "./errors.js";
import { arch, capability, command, devices, hardware, idleTimeout, matrix, name, priority, retries, timeout, user } from "./fields.js";
import { privilegeAllowanceSchema } from "./privileges.js";
import { JOB_LIMITS } from "./limits.js";

export { GUEST_ARCHES, PRIORITIES, type GuestArch, type PriorityName } from "./fields.js";

export const RESULT_FORMATS = ["auto", "ktap", "tap", "junit", "none"] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

/** How the App shows a suite's jobs on GitHub: a check run each, or one for the suite with its jobs in a table. */
export const CHECK_RUN_MODES = ["job", "suite"] as const;
const checkRun = z.enum(CHECK_RUN_MODES);

const suiteFields = {
  name,
  runner: z.enum(["docker", "qemu"]),
  command: command.optional(),
  results: z.enum(RESULT_FORMATS).default("auto"),
  /** A file under the results dir to parse instead of the output (JUnit XML usually). */
  results_file: z.string().min(1).optional(),
  hardware: hardware.default({}),
  timeout: timeout.optional(),
  retries: retries.optional(),
  priority: priority.optional(),
  artifacts: z.array(z.string().min(1)).default([]),
  matrix: matrix.optional(),
  check_run: checkRun.optional(),
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
  devices: devices.optional(),
  /** Named so that asking for it gets the way out instead of an "unknown field". */
  privileged: z
    .custom<never>(() => false, {
      message: "kto never runs privileged containers: list what the suite needs under capabilities (and devices) instead",
    })
    .optional(),
  // QEMU
  arch,
  /** The `builds:` entry whose kernel (and modules) this suite boots, in place of `kernel:`. */
  build: name.optional(),
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
      for (const field of ["build", "kernel", "initramfs", "modules", "append", "disk", "idle_timeout"] as const) {
        if (suite[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: `${field} applies to qemu suites only` });
      }
      if (suite.capabilities?.length && !(suite.user && isRootUser(suite.user)))
        ctx.addIssue({
          code: "custom",
          path: ["capabilities"],
          message: "capabilities reach only a job running as root: add user: root",
        });
    } else {
      if (suite.build !== undefined) {
        if (suite.kernel !== undefined)
          ctx.addIssue({ code: "custom", path: ["kernel"], message: `the suite boots the kernel of build ${suite.build}: remove kernel:` });
        // Modules are only good for the kernel they were built with: the build's own.
        if (suite.modules !== undefined)
          ctx.addIssue({
            code: "custom",
            path: ["modules"],
            message: `the suite boots the modules of build ${suite.build}: remove modules: (add modules to the build's targets)`,
          });
      } else if (!suite.kernel) ctx.addIssue({ code: "custom", path: ["kernel"], message: "a qemu suite needs a kernel" });
      // A suite that boots a build's kernel with neither reads what the kernel prints (KUnit).
      if (!suite.initramfs && !suite.command && suite.build === undefined)
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
        retries: retries.default(0),
        priority: priority.default("normal"),
        idle_timeout: idleTimeout.default("2m"),
        check_run: checkRun.default("job"),
      })
      .strict()
      .default({}),
    suites: z.array(suiteSchema).min(1, "expected at least one suite"),
    /** Kernels built before the suites that boot them. */
    builds: buildListSchema.default([]),
    triggers: z
      .object({ pull_request: suiteSelection.default("all"), dispatch: suiteSelection.default("all"), push: suiteSelection.default("all") })
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
    /** Read by the App from the base branch: when a finished job is red, judged against its baseline's results. */
    results: z
      .object({
        /** `regressions`: red only for a test that passed on the baseline, or a new test that fails; `failures`: red for any failure. */
        fail_on: z.enum(["regressions", "failures"]).default("regressions"),
        /** Runs a pull request's failing job again up to this many times before its failures are judged: a pass on one is flaky, not new. */
        confirm: z.number().int().min(0).max(3).default(0),
      })
      .strict()
      .default({}),
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
    checkBuildReferences(config, seen, ctx);
    for (const trigger of ["pull_request", "dispatch", "push"] as const) {
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

/** A build's name is a job id beside the suites'; each suite's `build:` names a build of its own architecture. */
function checkBuildReferences(
  config: { suites: z.output<typeof suiteSchema>[]; builds: z.output<typeof buildListSchema> },
  suites: ReadonlyMap<string, number>,
  ctx: z.RefinementCtx,
): void {
  const builds = new Map(config.builds.map((build, index) => [build.name, { build, index }]));
  config.builds.forEach((build, index) => {
    const suite = suites.get(build.name);
    if (suite !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["builds", index, "name"],
        message: `suites[${suite}] is named ${build.name} too; a build and a suite are jobs of one plan and need names of their own`,
      });
  });
  const names = [...builds.keys()];
  const have = names.length ? `have: ${listedNames(names)}` : "the config has no builds:";
  config.suites.forEach((suite, index) => {
    if (suite.build === undefined || suite.runner !== "qemu") return;
    const named = builds.get(suite.build);
    if (!named) {
      ctx.addIssue({ code: "custom", path: ["suites", index, "build"], message: `no build named "${suite.build}" (${have})` });
    } else if (named.build.arch !== suite.arch)
      ctx.addIssue({
        code: "custom",
        path: ["suites", index, "build"],
        message: `build ${suite.build} (builds[${named.index}]) makes an ${named.build.arch} kernel; the suite boots ${suite.arch} (set the suite's arch: or name an ${suite.arch} build)`,
      });
  });
}

export type KtoConfig = z.output<typeof configSchema>;
export type SuiteConfig = z.output<typeof suiteSchema>;
