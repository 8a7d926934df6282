import { ConfigError, formatPath, type ConfigIssue } from "./errors.js";
import type { JobSpec, Plan } from "./job-spec.js";
import type { LoadedConfig } from "./load-config.js";
import type { SuiteConfig } from "./schema.js";

const MATRIX_REF = /\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;

export interface PlanOptions {
  /** Only these suites, in config order; unknown names are an error. */
  suites?: readonly string[];
}

/** Suites × matrix → jobs, with `${{ matrix.x }}` substituted in every string of the suite. */
export function buildPlan(loaded: LoadedConfig, options: PlanOptions = {}): Plan {
  const { config, file, locate } = loaded;
  const issues: ConfigIssue[] = [];
  const wanted = options.suites ? new Set(options.suites) : null;
  if (wanted) {
    for (const name of wanted) {
      if (!config.suites.some((suite) => suite.name === name))
        issues.push({ file, line: 1, column: 1, path: "", message: `no suite named "${name}" (have: ${config.suites.map((s) => s.name).join(", ")})` });
    }
  }

  const jobs: JobSpec[] = [];
  config.suites.forEach((suite, index) => {
    if (wanted && !wanted.has(suite.name)) return;
    for (const combination of matrixCombinations(suite.matrix)) {
      const substituted = substitute(suite, combination, (path, message) => {
        const fullPath = ["suites", index, ...path];
        issues.push({ file, ...locate(fullPath), path: formatPath(fullPath), message });
      });
      jobs.push(toJob(substituted, combination, config.defaults));
    }
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return { source: file, jobs };
}

function matrixCombinations(matrix: SuiteConfig["matrix"]): Record<string, string>[] {
  let combinations: Record<string, string>[] = [{}];
  for (const [key, values] of Object.entries(matrix ?? {})) {
    combinations = combinations.flatMap((partial) => values.map((value) => ({ ...partial, [key]: String(value) })));
  }
  return combinations;
}

function substitute(
  suite: SuiteConfig,
  matrix: Record<string, string>,
  report: (path: (string | number)[], message: string) => void,
): SuiteConfig {
  const walk = (value: unknown, path: (string | number)[]): unknown => {
    if (typeof value === "string") {
      return value.replace(MATRIX_REF, (whole, key: string) => {
        const replacement = matrix[key];
        if (replacement !== undefined) return replacement;
        report(path, `unknown matrix key "${key}" in ${whole} (matrix has: ${Object.keys(matrix).join(", ") || "nothing"})`);
        return whole;
      });
    }
    if (Array.isArray(value)) return value.map((item, i) => walk(item, [...path, i]));
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === "matrix" ? v : walk(v, [...path, k])]));
    }
    return value;
  };
  return walk(suite, []) as SuiteConfig;
}

function toJob(
  suite: SuiteConfig,
  matrix: Record<string, string>,
  defaults: LoadedConfig["config"]["defaults"],
): JobSpec {
  const entries = Object.entries(matrix);
  const id = entries.length ? `${suite.name} (${entries.map(([k, v]) => `${k}=${v}`).join(", ")})` : suite.name;
  const slug = [suite.name, ...entries.map(([k, v]) => `${k}-${v}`)].join("-").replace(/[^A-Za-z0-9._-]+/g, "_");
  return {
    id,
    slug,
    suite: suite.name,
    matrix,
    runner: suite.runner,
    command: suite.command,
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
    image: suite.image,
    network: suite.network,
    user: suite.user,
    capabilities: suite.capabilities,
    devices: suite.devices,
    arch: suite.arch,
    kernel: suite.kernel,
    initramfs: suite.initramfs,
    modules: suite.modules,
    append: suite.append,
    disk: suite.disk,
    idleTimeoutMs: suite.idle_timeout ?? defaults.idle_timeout,
  };
}
