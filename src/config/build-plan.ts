import { DEFAULT_BUILD_TIMEOUT_MS, kernelImageName, MODULES_ARCHIVE } from "./build-facts.js";
import type { BuildConfig } from "./build-schema.js";
import { ConfigError, formatPath, listedNames, type ConfigIssue } from "./errors.js";
import { buildNeeded, type BuildJob, type JobSpec, type Plan } from "./job-spec.js";
import { MAX_JOB_SPEC_CHARS, MAX_PLAN_SPEC_CHARS, type ImposedCaps } from "./limits.js";
import type { LoadedConfig } from "./load-config.js";
import type { KtoConfig, SuiteConfig } from "./schema.js";

const MATRIX_REF = /\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;

export interface PlanOptions {
  /** Only these suites, in config order, and the builds they boot; unknown names are an error. */
  suites?: readonly string[];
  /**
   * Only these builds, in config order, besides those the selected suites boot; unknown
   * names are an error. Without `suites` the plan has builds alone: what `kto build` runs.
   */
  builds?: readonly string[];
  /** Job caps in place of the config's own `limits`: the base branch's, for a config that is not trusted. */
  imposed?: ImposedCaps;
}

type Path = (string | number)[];
type MatrixValue = NonNullable<SuiteConfig["matrix"]>[string][number];
type Combination = [key: string, value: MatrixValue][];
type Defaults = LoadedConfig["config"]["defaults"];

/** A suite or a build, as the plan makes jobs of it. */
type Entry = { section: "suites"; index: number; config: SuiteConfig } | { section: "builds"; index: number; config: BuildConfig };

/** Who made a job name or slug first, for the message when another job makes it too. */
interface Maker {
  /** The entry, e.g. `suites[2]`. */
  entry: string;
  combination: string;
}

const SLUG_RULE = "(a slug keeps letters, digits, '.', '_' and '-')";
const GITHUB_INPUTS = "GitHub's limit on a dispatched workflow's inputs is 65,535 characters";

/**
 * Builds and suites × matrix → jobs, builds first, with `${{ matrix.x }}` substituted in
 * every string of the entry. Every entry's job count is known (a product, nothing built)
 * and checked against the config's `limits` before any job is made. A job that boots a
 * build names the build job whose matrix values are its own on the build's matrix keys.
 */
export function buildPlan(loaded: LoadedConfig, options: PlanOptions = {}): Plan {
  const { config, file, locate } = loaded;
  const issues: ConfigIssue[] = [];
  const report = (path: Path, message: string) => {
    const written = asWritten(path);
    issues.push({ file, ...locate(written), path: formatPath(written), message });
  };
  const { entries, selecting, problems } = selectEntries(config, options);
  for (const message of problems) issues.push({ file, line: 1, column: 1, path: "", message });
  const where = ({ section, index, config: entry }: Entry): Path => (entry.matrix ? [section, index, "matrix"] : [section, index]);

  const buildsByName = new Map(config.builds.map((build) => [build.name, build]));
  const { jobs_per_suite: perSuite, jobs_per_plan: perPlan } = options.imposed?.caps ?? config.limits;
  const setOn = options.imposed ? ` ${options.imposed.setOn}` : "";
  let planned = 0;
  for (const entry of entries) {
    const counts = Object.values(entry.config.matrix ?? {}).map((values) => values.length);
    const count = counts.reduce((product, n) => product * n, 1);
    if (count > perSuite) {
      const factors = counts.length > 1 ? ` (${counts.slice(0, 16).join(" × ")}${counts.length > 16 ? " × …" : ""})` : "";
      report(where(entry), `makes ${formatCount(count)} jobs${factors}; at most ${perSuite} per suite (limits.jobs_per_suite${setOn})`);
    } else if (planned <= perPlan && planned + count > perPlan) {
      report(where(entry), `brings the plan to ${planned + count} jobs; at most ${perPlan} per plan (limits.jobs_per_plan${setOn})`);
    }
    planned += count;
    for (const { path, key, reference } of unknownMatrixKeys(entry.config))
      report(
        [entry.section, entry.index, ...path],
        `unknown matrix key "${key}" in ${reference} (matrix has: ${Object.keys(entry.config.matrix ?? {}).join(", ") || "nothing"})`,
      );
    if (entry.section === "suites")
      for (const { path, message } of buildMatrixProblems(entry.config, buildsByName)) report([entry.section, entry.index, ...path], message);
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const jobs: JobSpec[] = [];
  const buildJobs = new Map<string, BuildJob[]>();
  const names = new Map<string, Maker>();
  const slugs = new Map<string, Maker>();
  let planChars = 0;
  plan: for (const entry of entries) {
    const { section, index } = entry;
    const self = `${section}[${index}]`;
    for (const combination of combinations(entry.config.matrix)) {
      const described = combination.length ? `(${combination.map(([k, v]) => `${k}=${shown(v)}`).join(", ")})` : "";
      const matrix = Object.fromEntries(combination.map(([k, v]) => [k, String(v)]));
      const substituted = substitute(entry.config, matrix);
      if ("overflowAt" in substituted) {
        report(
          [section, index, ...substituted.overflowAt],
          `takes the job ${described ? `${described} ` : ""}past ${kib(MAX_JOB_SPEC_CHARS)} as JSON, the most a job may be (${GITHUB_INPUTS})`,
        );
        break;
      }
      const boots = entry.section === "suites" && entry.config.build !== undefined ? buildJobFor(entry.config.build, matrix, buildJobs) : undefined;
      // A build whose jobs stopped at a problem, reported already, leaves its suites nothing to boot.
      if (boots === null) break;
      const job =
        entry.section === "builds"
          ? toBuildJob(substituted.entry as BuildConfig, matrix, config.defaults)
          : toJob(substituted.entry as SuiteConfig, matrix, config.defaults, boots);
      const maker = { entry: self, combination: described };
      const made = described || (section === "builds" ? "the build" : "the suite");
      const madeBy = (other: Maker) => (other.entry === self ? other.combination : `${other.entry}${other.combination ? ` ${other.combination}` : ""}`);
      const sameName = names.get(job.id);
      const sameSlug = slugs.get(job.slug);
      if (sameName) {
        report(where(entry), `${made} makes the job "${job.id}" that ${madeBy(sameName)} makes; make the values differ`);
        break;
      }
      if (sameSlug) {
        report(where(entry), `${made} makes the job slug "${job.slug}" that ${madeBy(sameSlug)} makes ${SLUG_RULE}; make the values differ`);
        break;
      }
      names.set(job.id, maker);
      slugs.set(job.slug, maker);
      const chars = JSON.stringify(job).length;
      if (chars > MAX_JOB_SPEC_CHARS) {
        report([section, index], `makes a job of ${kib(chars)} as JSON; at most ${kib(MAX_JOB_SPEC_CHARS)} (${GITHUB_INPUTS})`);
        break;
      }
      planChars += chars;
      if (planChars > MAX_PLAN_SPEC_CHARS) {
        report(
          [section, index],
          `brings the plan past ${MAX_PLAN_SPEC_CHARS / 1024 / 1024} MiB of job specs as JSON (at the plan's job ${jobs.length + 1}); make its jobs smaller or fewer`,
        );
        break plan;
      }
      if (job.runner === "build") buildJobs.set(job.suite, [...(buildJobs.get(job.suite) ?? []), job]);
      jobs.push(job);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { source: file, jobs: selecting ? withoutUnbootedBuilds(jobs, new Set(options.builds)) : jobs };
}

/**
 * The builds and suites a plan makes jobs of, builds first: with no selection every one;
 * else the suites asked for, the builds asked for and the builds those suites boot. Names
 * asked for that the config lacks are problems.
 */
function selectEntries(config: KtoConfig, options: PlanOptions): { entries: Entry[]; selecting: boolean; problems: string[] } {
  const problems: string[] = [];
  const unknown = (kind: "suite" | "build", asked: readonly string[] | undefined, have: readonly { name: string }[]) => {
    const names = new Set(have.map((entry) => entry.name));
    for (const name of new Set(asked)) if (!names.has(name)) problems.push(`no ${kind} named "${name}" (have: ${listedNames([...names]) || "none"})`);
  };
  unknown("suite", options.suites, config.suites);
  unknown("build", options.builds, config.builds);
  const selecting = options.suites !== undefined || options.builds !== undefined;
  const wantedSuites = new Set(options.suites);
  const suites = config.suites.flatMap((suite, index) =>
    selecting && !wantedSuites.has(suite.name) ? [] : [{ section: "suites" as const, index, config: suite }],
  );
  const booted = new Set(suites.flatMap(({ config: suite }) => (suite.build === undefined ? [] : [suite.build])));
  const askedBuilds = new Set(options.builds);
  const builds = config.builds.flatMap((build, index) =>
    selecting && !askedBuilds.has(build.name) && !booted.has(build.name) ? [] : [{ section: "builds" as const, index, config: build }],
  );
  return { entries: [...builds, ...suites], selecting, problems };
}

/**
 * A path of the planned entry as the config file has it: a build's recipe was read from one
 * `config:` list, the base target its first item.
 */
function asWritten(path: Path): Path {
  const [section, index, field, part, layer] = path;
  if (section !== "builds" || field !== "config") return path;
  if (part === "base") return [section, index!, field, 0];
  if (part === "layers" && typeof layer === "number") return [section, index!, field, layer + 1];
  return path;
}

/**
 * A selection brings in the builds its suites boot, but of a build with a matrix only the
 * jobs some selected job boots: the rest would be built for nothing.
 */
function withoutUnbootedBuilds(jobs: JobSpec[], asked: ReadonlySet<string>): JobSpec[] {
  const booted = new Set(jobs.flatMap((job) => buildNeeded(job) ?? []));
  return jobs.filter((job) => job.runner !== "build" || asked.has(job.suite) || booted.has(job.id));
}

/**
 * What keeps a suite's jobs from each finding its one build job: every key of the build's
 * matrix must be a key of the suite's, with values the build has. (The schema has checked
 * that the build exists.)
 */
function buildMatrixProblems(suite: SuiteConfig, builds: ReadonlyMap<string, BuildConfig>): { path: Path; message: string }[] {
  const build = suite.build === undefined ? undefined : builds.get(suite.build);
  if (!build?.matrix) return [];
  const problems: { path: Path; message: string }[] = [];
  for (const [key, values] of Object.entries(build.matrix)) {
    const own = suite.matrix && Object.hasOwn(suite.matrix, key) ? suite.matrix[key]! : undefined;
    if (own === undefined) {
      problems.push({
        path: ["build"],
        message: `build ${build.name} has a matrix over ${key}; the suite needs a matrix value for ${key} to pick one of its builds`,
      });
      continue;
    }
    const built = new Set(values.map(String));
    own.forEach((value, i) => {
      if (!built.has(String(value)))
        problems.push({
          path: ["matrix", key, i],
          message: `build ${build.name} has no job with ${key}=${shown(value)} (its matrix has ${key}: ${values.map(shown).join(", ")})`,
        });
    });
  }
  return problems;
}

/**
 * The build job a suite's job with `matrix` boots: the one whose values match on every key
 * of the build's matrix. buildMatrixProblems has made sure there is one, unless the build's
 * own jobs stopped at a problem: then null.
 */
function buildJobFor(name: string, matrix: Record<string, string>, buildJobs: ReadonlyMap<string, BuildJob[]>): BuildJob | null {
  return buildJobs.get(name)?.find((job) => Object.entries(job.matrix).every(([key, value]) => matrix[key] === value)) ?? null;
}

function formatCount(count: number): string {
  if (Number.isSafeInteger(count)) return String(count);
  return Number.isFinite(count) ? `about ${count.toPrecision(3)}` : "more than 1e308";
}

/** A matrix value as a message shows it: typed (`1` is not `"1"`) and short. */
function shown(value: MatrixValue): string {
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

function kib(chars: number): string {
  return `${Number((chars / 1024).toFixed(1))} KiB`;
}

/** The matrix's combinations, first key slowest, one at a time: a plan holds only the jobs it keeps. */
function* combinations(matrix: SuiteConfig["matrix"]): Generator<Combination> {
  const keys = Object.entries(matrix ?? {});
  const total = keys.reduce((product, [, values]) => product * values.length, 1);
  for (let i = 0; i < total; i++) {
    const combination: Combination = [];
    let rest = i;
    for (let k = keys.length - 1; k >= 0; k--) {
      const [key, values] = keys[k]!;
      combination[k] = [key, values[rest % values.length]!];
      rest = Math.floor(rest / values.length);
    }
    yield combination;
  }
}

/** Each string of the entry (the matrix aside) that names a key the matrix lacks, once per key: the same in every combination. */
function unknownMatrixKeys(suite: SuiteConfig | BuildConfig): { path: Path; key: string; reference: string }[] {
  const found: { path: Path; key: string; reference: string }[] = [];
  const keys = suite.matrix ?? {};
  forEachString(suite, [], (text, path) => {
    const named = new Set<string>();
    for (const [reference, key] of text.matchAll(MATRIX_REF)) {
      if (Object.hasOwn(keys, key!) || named.has(key!)) continue;
      named.add(key!);
      found.push({ path, key: key!, reference });
    }
  });
  return found;
}

function forEachString(value: unknown, path: Path, visit: (text: string, path: Path) => void): void {
  if (typeof value === "string") visit(value, path);
  else if (Array.isArray(value)) value.forEach((item, i) => forEachString(item, [...path, i], visit));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) if (k !== "matrix") forEachString(v, [...path, k], visit);
  }
}

/**
 * The entry with `matrix`'s values in place of its references; or, when its strings would
 * add up to more than a job may be, the path of the string that crossed that line. Counted
 * before each string is made, so no value repeated many times can make a string too big to hold.
 */
function substitute<T extends object>(entry: T, matrix: Record<string, string>): { entry: T } | { overflowAt: Path } {
  const lookup = (key: string) => (Object.hasOwn(matrix, key) ? matrix[key] : undefined);
  const state: { remaining: number; overflowAt: Path | null } = { remaining: MAX_JOB_SPEC_CHARS, overflowAt: null };
  const walk = (value: unknown, path: Path): unknown => {
    if (state.overflowAt) return value;
    if (typeof value === "string") {
      let length = value.length;
      for (const [whole, key] of value.matchAll(MATRIX_REF)) length += (lookup(key!) ?? whole).length - whole.length;
      state.remaining -= length;
      if (state.remaining < 0) {
        state.overflowAt = path;
        return value;
      }
      return value.replace(MATRIX_REF, (whole, key: string) => lookup(key) ?? whole);
    }
    if (Array.isArray(value)) return value.map((item, i) => walk(item, [...path, i]));
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === "matrix" ? v : walk(v, [...path, k])]));
    }
    return value;
  };
  const substituted = walk(entry, []) as T;
  return state.overflowAt ? { overflowAt: state.overflowAt } : { entry: substituted };
}

/** A job's id and slug: the entry's name, then its matrix values. */
function jobNames(name: string, matrix: Record<string, string>): { id: string; slug: string } {
  const entries = Object.entries(matrix);
  return {
    id: entries.length ? `${name} (${entries.map(([k, v]) => `${k}=${v}`).join(", ")})` : name,
    slug: [name, ...entries.map(([k, v]) => `${k}-${v}`)].join("-").replace(/[^A-Za-z0-9._-]+/g, "_"),
  };
}

function toBuildJob(build: BuildConfig, matrix: Record<string, string>, defaults: Defaults): BuildJob {
  return {
    ...jobNames(build.name, matrix),
    runner: "build",
    suite: build.name,
    matrix,
    env: {},
    results: "none",
    labels: [...new Set(build.hardware.labels)].sort(),
    memoryBytes: build.hardware.memory,
    cpus: build.hardware.cpus,
    timeoutMs: build.timeout ?? DEFAULT_BUILD_TIMEOUT_MS,
    retries: build.retries ?? defaults.retries,
    priority: build.priority ?? defaults.priority,
    artifacts: [],
    network: false,
    arch: build.arch,
    idleTimeoutMs: defaults.idle_timeout,
    toolchain: build.toolchain,
    config: build.config,
    targets: build.targets,
    image: build.image,
  };
}

/** A kernel's command line, with `kunit_shutdown=reboot` unless it sets kunit_shutdown itself. */
function withKunitShutdown(append: string | undefined): string {
  // A kernel booted alone has no init to end it: after KUnit's tests it must reboot, which
  // QEMU (-no-reboot) takes as the end of the guest, as kunit_tool has it.
  if (append !== undefined && /(^|\s)kunit_shutdown=/.test(append)) return append;
  return append?.trim() ? `${append.trim()} kunit_shutdown=reboot` : "kunit_shutdown=reboot";
}

/** A suite's job; `boots` is the build job whose outputs it boots, for a suite with `build:`. */
function toJob(suite: SuiteConfig, matrix: Record<string, string>, defaults: Defaults, boots: BuildJob | undefined): JobSpec {
  const base = {
    ...jobNames(suite.name, matrix),
    suite: suite.name,
    matrix,
    env: suite.env,
    results: suite.results,
    resultsFile: suite.results_file,
    // A qemu job needs a host that boots its architecture, natively or by emulation
    // (`qemu-arm64`); `arm64` in hardware.labels is what asks for arm64 hardware.
    labels: [...new Set([...suite.hardware.labels, ...(suite.runner === "qemu" ? [`qemu-${suite.arch}`] : [])])].sort(),
    memoryBytes: suite.hardware.memory,
    cpus: suite.hardware.cpus,
    timeoutMs: suite.timeout ?? defaults.timeout,
    retries: suite.retries ?? defaults.retries,
    priority: suite.priority ?? defaults.priority,
    artifacts: suite.artifacts,
    network: suite.network,
    arch: suite.arch,
    idleTimeoutMs: suite.idle_timeout ?? defaults.idle_timeout,
    ...((suite.check_run ?? defaults.check_run) === "suite" ? { checkRun: "suite" as const } : {}),
  };
  // The schema has required these per runner; the checks only tell TypeScript so.
  if (suite.runner === "docker") {
    if (suite.image === undefined || suite.command === undefined)
      throw new Error(`suite ${suite.name}: a docker suite passed the schema without an image or command`);
    return {
      ...base,
      runner: "docker",
      image: suite.image,
      command: suite.command,
      user: suite.user,
      capabilities: suite.capabilities,
      devices: suite.devices,
    };
  }
  const qemu = { ...base, runner: "qemu" as const, command: suite.command, initramfs: suite.initramfs, disk: suite.disk };
  if (boots !== undefined) {
    const kernelAlone = suite.command === undefined && suite.initramfs === undefined;
    return {
      ...qemu,
      build: boots.id,
      kernel: kernelImageName(boots.arch),
      modules: boots.targets.includes("modules") ? MODULES_ARCHIVE : undefined,
      append: kernelAlone ? withKunitShutdown(suite.append) : suite.append,
    };
  }
  if (suite.kernel === undefined) throw new Error(`suite ${suite.name}: a qemu suite passed the schema without a kernel`);
  return { ...qemu, kernel: suite.kernel, modules: suite.modules, append: suite.append };
}
