import fc from "fast-check";

/**
 * The texts the config fuzz test (config-fuzz.test.ts) parses and plans: configs plausible
 * but for what the draw puts in, arbitrary trees of kto's keys, mutated ones, deep nesting,
 * alias bombs and binary noise.
 */

/** Where a config is read from; its issues name it. */
export const FILE = ".github/kto.yml";

const KEYS = [
  "version",
  "defaults",
  "suites",
  "triggers",
  "trust",
  "limits",
  "jobs_per_suite",
  "jobs_per_plan",
  "name",
  "runner",
  "image",
  "command",
  "matrix",
  "timeout",
  "idle_timeout",
  "retries",
  "priority",
  "env",
  "hardware",
  "labels",
  "memory",
  "cpus",
  "artifacts",
  "results",
  "results_file",
  "network",
  "user",
  "capabilities",
  "devices",
  "privileged",
  "privileges",
  "arch",
  "kernel",
  "initramfs",
  "modules",
  "append",
  "disk",
  "builds",
  "build",
  "toolchain",
  "config",
  "targets",
  "pull_request",
  "dispatch",
  "ok_to_test_label",
  "trusted_associations",
  "__proto__",
  "constructor",
  "toString",
  "<<",
  "k",
  "arch2",
];

const SCALARS = [
  "1",
  "2",
  "0",
  "-1",
  "1e400",
  "-0",
  ".inf",
  ".nan",
  "0x1F",
  "0o17",
  "~",
  "null",
  "true",
  "false",
  "yes",
  "docker",
  "qemu",
  "x86_64",
  "arm64",
  "root",
  "1000:100",
  "NET_ADMIN",
  "DAC_READ_SEARCH",
  "contained",
  "non-root",
  "/dev/fuse",
  "all",
  "high",
  "20m",
  "30d",
  "7d",
  "0s",
  "0.0001",
  "99999999999999999999d",
  "2G",
  "1.5GiB",
  "0B",
  '"${{ matrix.k }}"',
  '"${{ matrix.constructor }}"',
  '"${{ matrix.__proto__ }}"',
  '"a b"',
  "a_b",
  "a-b",
  '"1"',
  "''",
  '""',
  '"\\u0000"',
  "!!str 5",
  "!!binary aGk=",
  "!unknown x",
  "|\n  block\n",
  "'quoted ''x'''",
  "tinyconfig",
  "x86_64_defconfig",
  "CONFIG_KUNIT=y",
  '"CONFIG_X=y O=/"',
  '"$(shell id)"',
  "kernel/configs/kvm_guest.config",
  "../x.config",
  "modules",
  "clang",
];

/** Builds flow-style YAML, with anchors on some collections and aliases to earlier (or missing) anchors. */
function emitter(anchorSeed: number, aliasOneIn: number) {
  let anchors = 0;
  let seed = anchorSeed;
  const coin = (oneIn: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    // An LCG's low bits repeat with a short period: draw from the high ones.
    return (seed >>> 16) % oneIn === 0;
  };
  const anchor = () => (coin(4) ? `&a${anchors++} ` : "");
  const alias = () => (anchors > 0 || coin(3) ? `*a${(seed >>> 16) % (anchors + 1)}` : null);
  const emit = (value: Tree): string => {
    if (coin(aliasOneIn)) {
      const ref = alias();
      if (ref) return ref;
    }
    if (typeof value === "string") return value;
    if (Array.isArray(value)) return `${anchor()}[${value.map(emit).join(", ")}]`;
    return `${anchor()}{ ${Object.entries(value)
      .map(([k, v]) => `${k}: ${emit(v)}`)
      .join(", ")} }`;
  };
  return emit;
}

type Tree = string | Tree[] | { [key: string]: Tree };

const scalar = fc.oneof(
  fc.constantFrom(...SCALARS),
  fc.stringMatching(/^[a-z0-9_.${}() -]{0,12}$/).map((s) => JSON.stringify(s)),
);
const tree: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("tree"), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie("tree"), { maxKeys: 5 }),
  ),
})).tree;

/** kto's suite fields, with values from anywhere. */
const suite = fc.record(
  {
    name: fc.constantFrom("s", "a-v-1", "a", "S.1", "-bad", '"x y"'),
    runner: fc.constantFrom("docker", "qemu", "vm"),
    image: scalar,
    kernel: scalar,
    command: fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })),
    matrix: fc.oneof(
      fc.dictionary(fc.constantFrom("k", "v", "arch", "constructor", "1"), fc.array(scalar, { minLength: 1, maxLength: 4 }), { maxKeys: 3 }),
      // Huge, but only ever counted.
      fc
        .tuple(fc.integer({ min: 1, max: 14 }), fc.integer({ min: 1, max: 14 }))
        .map(([keys, values]) => Object.fromEntries(Array.from({ length: keys }, (_, k) => [`m${k}`, Array.from({ length: values }, (_, v) => String(v))]))),
    ),
    timeout: scalar,
    idle_timeout: scalar,
    env: fc.dictionary(fc.constantFrom("A", "B", "1x"), scalar, { maxKeys: 2 }),
    hardware: tree,
    artifacts: fc.array(scalar, { maxLength: 3 }),
    build: fc.constantFrom("k", "s", "nope", "-bad"),
    extra: tree,
  },
  { requiredKeys: ["name", "runner"] },
);

/** kto's build fields, with values from anywhere. */
const build = fc.record(
  {
    name: fc.constantFrom("k", "s", "a", "-bad"),
    arch: scalar,
    toolchain: scalar,
    config: fc.oneof(scalar, fc.array(scalar, { maxLength: 4 })),
    targets: fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })),
    image: scalar,
    matrix: fc.dictionary(fc.constantFrom("k", "v", "arch"), fc.array(scalar, { minLength: 1, maxLength: 3 }), { maxKeys: 2 }),
    timeout: scalar,
    hardware: tree,
    extra: tree,
  },
  { requiredKeys: ["name"] },
);

const config = fc.record(
  {
    version: fc.constantFrom("1", "2", '"1"'),
    suites: fc.array(suite, { maxLength: 3 }),
    builds: fc.array(build, { maxLength: 2 }),
    defaults: tree,
    limits: fc.dictionary(fc.constantFrom("jobs_per_suite", "jobs_per_plan", "x"), fc.constantFrom("1", "3", "256", "1024", "5000", "-1", "1.5", "a"), {
      maxKeys: 2,
    }),
    triggers: tree,
    trust: tree,
    privileges: tree,
  },
  { requiredKeys: ["version"] },
);

/** Valid but for what the draw puts in: so planning (counts, substitution, names) gets exercised too. */
const plausible = fc.record({
  limits: fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.record({ jobs_per_suite: fc.constantFrom("2", "256", "1024"), jobs_per_plan: fc.constantFrom("3", "1024", "4096") }) },
  ),
  builds: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom("k", "k2", "a"),
      config: fc.constantFrom("[tinyconfig]", "[defconfig, CONFIG_KUNIT=y, kernel/configs/kvm_guest.config]", "[tinyconfig]", '[tinyconfig, "CONFIG_X=y O=/"]'),
      targets: fc.constantFrom("[kernel]", "[kernel, modules]"),
      image: fc.constantFrom('"b:${{ matrix.v }}"', "b", '"b:${{ matrix.v }}"', "b", '"${{ matrix.nope }}"'),
      matrix: fc.record({ v: fc.uniqueArray(fc.constantFrom("1", '"1"', "x", "y"), { minLength: 1, maxLength: 3 }) }, { requiredKeys: [] }),
    }),
    { maxLength: 2, selector: (build) => build.name },
  ),
  suites: fc.uniqueArray(
    fc.oneof(
      {
        weight: 1,
        arbitrary: fc.record({
          name: fc.constantFrom("s", "a", "a-v-1", "b.c"),
          runner: fc.constant("qemu"),
          build: fc.constantFrom("k", "k", "k2", "nope"),
          command: fc.constantFrom("x", '"run ${{ matrix.v }}"'),
          append: fc.constantFrom("console=ttyS0", "kunit_shutdown=halt"),
          matrix: fc.record({ v: fc.uniqueArray(fc.constantFrom("1", "x", "y", "z"), { minLength: 1, maxLength: 3 }) }, { requiredKeys: [] }),
        }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          name: fc.constantFrom("s", "a", "a-v-1", "b.c"),
          runner: fc.constant("docker"),
          image: fc.constantFrom("i", '"img:${{ matrix.v }}"', "i", '"img:${{ matrix.v }}"', "i", '"img:${{ matrix.v }}"', '"${{ matrix.nope }}"'),
          command: fc.constantFrom("x", '"run ${{ matrix.v }} ${{matrix.k}}"', '["a", "${{ matrix.v }}"]', `"${"${{ matrix.v }}".repeat(50)}"`),
          matrix: fc.record(
            Object.fromEntries(
              ["v", "k", "constructor"].map((key) => [
                key,
                fc.uniqueArray(fc.constantFrom("1", '"1"', "1.0", "true", '"a b"', "a_b", "x", "y", "z", '""', `"${"w".repeat(2000)}"`), {
                  minLength: 1,
                  maxLength: 5,
                }),
              ]),
            ),
            { requiredKeys: ["v"] },
          ),
          timeout: fc.constantFrom("20m", "7d", "1"),
        }),
      },
    ),
    { minLength: 1, maxLength: 3, selector: (suite) => suite.name },
  ),
});

function text(value: Record<string, unknown>, seed: number, aliasOneIn = 7): string {
  const emit = emitter(seed, aliasOneIn);
  const block = Object.entries(value).flatMap(([key, v]) => (v === undefined ? [] : [`${key}: ${emit(v as Tree)}`]));
  return `${block.join("\n")}\n`;
}

/** Characters that change YAML's structure, spliced anywhere. */
const mutation = fc.array(
  fc.tuple(
    fc.nat(),
    fc.constantFrom(":", "- ", "{", "}", "[", "]", "&", "*", "!", "%YAML 1.1\n", "\t", "\n", "? ", "<<: *a0\n", "#", '"', "'", "---\n", "...\n", " ".repeat(7)),
  ),
  { maxLength: 4 },
);

function mutate(source: string, edits: [number, string][]): string {
  let out = source;
  for (const [at, insert] of edits) {
    const i = at % (out.length + 1);
    out = out.slice(0, i) + insert + out.slice(i);
  }
  return out;
}

const deep = fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom("[", "{ a: ", "- ")).map(([depth, open]) => {
  if (open === "- ") return `version: 1\nsuites:\n${Array.from({ length: Math.min(depth, 300) }, (_, i) => `${" ".repeat(i * 2)}- `).join("\n")}x\n`;
  const close = open === "[" ? "]" : "}";
  return `version: 1\nsuites: ${open.repeat(depth)}x${close.repeat(depth)}\n`;
});

const laughs = fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 2, max: 12 })).map(([levels, width]) => {
  const lines = ["version: 1", `l0: &l0 [${Array(width).fill("lol").join(", ")}]`];
  for (let i = 1; i <= levels; i++)
    lines.push(
      `l${i}: &l${i} [${Array(width)
        .fill(`*l${i - 1}`)
        .join(", ")}]`,
    );
  lines.push(`suites: [{ name: s, runner: docker, image: i, command: x, artifacts: *l${levels}, env: { A: *l${levels} } }]`);
  return `${lines.join("\n")}\n`;
});

/** YAML-ish text a config's author, a broken editor or an attacker could commit as a config. */
export const yamlish = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(plausible, fc.nat()).map(([value, seed]) => `version: 1\n${text(value, seed, 400)}`) },
  { weight: 4, arbitrary: fc.tuple(config, fc.nat(), mutation).map(([value, seed, edits]) => mutate(text(value, seed), edits)) },
  { weight: 1, arbitrary: fc.tuple(fc.dictionary(fc.constantFrom(...KEYS), tree, { maxKeys: 6 }), fc.nat()).map(([value, seed]) => text(value, seed)) },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: laughs },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
);
