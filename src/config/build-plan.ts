import { ConfigError, formatPath, type ConfigIssue } from "./errors.js";
import type { JobSpec, Plan } from "./job-spec.js";
import { MAX_JOB_SPEC_CHARS, MAX_PLAN_SPEC_CHARS, type ImposedCaps } from "./limits.js";
import type { LoadedConfig } from "./load-config.js";
import type { SuiteConfig } from "./schema.js";

const MATRIX_REF = /\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;

export interface PlanOptions {
  /** Only these suites, in config order; unknown names are an error. */
  suites?: readonly string[];
  /** Job caps in place of the config's own `limits`: the base branch's, for a config that is not trusted. */
  imposed?: ImposedCaps;
}

type Path = (string | number)[];
type MatrixValue = NonNullable<SuiteConfig["matrix"]>[string][number];
type Combination = [key: string, value: MatrixValue][];

/** Who made a job name or slug first, for the message when another job makes it too. */
interface Maker {
  suite: number;
  combination: string;
}

const SLUG_RULE = "(a slug keeps letters, digits, '.', '_' and '-')";
const GITHUB_INPUTS = "GitHub's limit on a dispatched workflow's inputs is 65,535 characters";

/**
 * Suites × matrix → jobs, with `${{ matrix.x }}` substituted in every string of the suite.
 * Every suite's job count is known (a product, nothing built) and checked against the
 * config's `limits` before any job is made.
 */
export function buildPlan(loaded: LoadedConfig, options: PlanOptions = {}): Plan {
  const { config, file, locate } = loaded;
  const issues: ConfigIssue[] = [];
  const report = (path: Path, message: string) => issues.push({ file, ...locate(path), path: formatPath(path), message });
  const wanted = options.suites ? new Set(options.suites) : null;
  if (wanted) {
    for (const name of wanted) {
      if (!config.suites.some((suite) => suite.name === name))
        issues.push({ file, line: 1, column: 1, path: "", message: `no suite named "${name}" (have: ${config.suites.map((s) => s.name).join(", ")})` });
    }
  }
  const selected = config.suites.flatMap((suite, index) => (wanted && !wanted.has(suite.name) ? [] : [{ suite, index }]));
  const where = (suite: SuiteConfig, index: number): Path => (suite.matrix ? ["suites", index, "matrix"] : ["suites", index]);

  const { jobs_per_suite: perSuite, jobs_per_plan: perPlan } = options.imposed?.caps ?? config.limits;
  const setOn = options.imposed ? ` ${options.imposed.setOn}` : "";
  let planned = 0;
  for (const { suite, index } of selected) {
    const counts = Object.values(suite.matrix ?? {}).map((values) => values.length);
    const count = counts.reduce((product, n) => product * n, 1);
    if (count > perSuite) {
      const factors = counts.length > 1 ? ` (${counts.slice(0, 16).join(" × ")}${counts.length > 16 ? " × …" : ""})` : "";
      report(where(suite, index), `makes ${formatCount(count)} jobs${factors}; at most ${perSuite} per suite (limits.jobs_per_suite${setOn})`);
    } else if (planned <= perPlan && planned + count > perPlan) {
      report(where(suite, index), `brings the plan to ${planned + count} jobs; at most ${perPlan} per plan (limits.jobs_per_plan${setOn})`);
    }
    planned += count;
    for (const { path, key, reference } of unknownMatrixKeys(suite))
      report(
        ["suites", index, ...path],
        `unknown matrix key "${key}" in ${reference} (matrix has: ${Object.keys(suite.matrix ?? {}).join(", ") || "nothing"})`,
      );
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const jobs: JobSpec[] = [];
  const names = new Map<string, Maker>();
  const slugs = new Map<string, Maker>();
  let planChars = 0;
  plan: for (const { suite, index } of selected) {
    for (const combination of combinations(suite.matrix)) {
      const described = combination.length ? `(${combination.map(([k, v]) => `${k}=${shown(v)}`).join(", ")})` : "";
      const matrix = Object.fromEntries(combination.map(([k, v]) => [k, String(v)]));
      const substituted = substitute(suite, matrix);
      if ("overflowAt" in substituted) {
        report(
          ["suites", index, ...substituted.overflowAt],
          `takes the job ${described ? `${described} ` : ""}past ${kib(MAX_JOB_SPEC_CHARS)} as JSON, the most a job may be (${GITHUB_INPUTS})`,
        );
        break;
      }
      const job = toJob(substituted.suite, matrix, config.defaults);
      const maker = { suite: index, combination: described };
      const self = described || "the suite";
      const madeBy = (other: Maker) =>
        other.suite === index ? other.combination : `suites[${other.suite}]${other.combination ? ` ${other.combination}` : ""}`;
      const sameName = names.get(job.id);
      const sameSlug = slugs.get(job.slug);
      if (sameName) {
        report(where(suite, index), `${self} makes the job "${job.id}" that ${madeBy(sameName)} makes; make the values differ`);
        break;
      }
      if (sameSlug) {
        report(where(suite, index), `${self} makes the job slug "${job.slug}" that ${madeBy(sameSlug)} makes ${SLUG_RULE}; make the values differ`);
        break;
      }
      names.set(job.id, maker);
      slugs.set(job.slug, maker);
      const chars = JSON.stringify(job).length;
      if (chars > MAX_JOB_SPEC_CHARS) {
        report(["suites", index], `makes a job of ${kib(chars)} as JSON; at most ${kib(MAX_JOB_SPEC_CHARS)} (${GITHUB_INPUTS})`);
        break;
      }
      planChars += chars;
      if (planChars > MAX_PLAN_SPEC_CHARS) {
        report(
          ["suites", index],
          `brings the plan past ${MAX_PLAN_SPEC_CHARS / 1024 / 1024} MiB of job specs as JSON (at the plan's job ${jobs.length + 1}); make its jobs smaller or fewer`,
        );
        break plan;
      }
      jobs.push(job);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { source: file, jobs };
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

/** Each string of the suite (the matrix aside) that names a key the matrix lacks, once per key: the same in every combination. */
function unknownMatrixKeys(suite: SuiteConfig): { path: Path; key: string; reference: string }[] {
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
 * The suite with `matrix`'s values in place of its references; or, when its strings would
 * add up to more than a job may be, the path of the string that crossed that line. Counted
 * before each string is made, so no value repeated many times can make a string too big to hold.
 */
function substitute(suite: SuiteConfig, matrix: Record<string, string>): { suite: SuiteConfig } | { overflowAt: Path } {
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
  const substituted = walk(suite, []) as SuiteConfig;
  return state.overflowAt ? { overflowAt: state.overflowAt } : { suite: substituted };
}

function toJob(suite: SuiteConfig, matrix: Record<string, string>, defaults: LoadedConfig["config"]["defaults"]): JobSpec {
  const entries = Object.entries(matrix);
  const id = entries.length ? `${suite.name} (${entries.map(([k, v]) => `${k}=${v}`).join(", ")})` : suite.name;
  const slug = [suite.name, ...entries.map(([k, v]) => `${k}-${v}`)].join("-").replace(/[^A-Za-z0-9._-]+/g, "_");
  const base = {
    id,
    slug,
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
  if (suite.kernel === undefined) throw new Error(`suite ${suite.name}: a qemu suite passed the schema without a kernel`);
  return {
    ...base,
    runner: "qemu",
    kernel: suite.kernel,
    command: suite.command,
    initramfs: suite.initramfs,
    modules: suite.modules,
    append: suite.append,
    disk: suite.disk,
  };
}
