export type ResultsFormat = "ktap" | "tap" | "junit";
export type TestStatus = "passed" | "failed" | "skipped" | "errored";
export type Directive = "skip" | "todo" | "xfail" | "timeout" | "error";

export interface SourceLocation {
  file: string;
  line: number;
}

export interface TestCase {
  name: string;
  status: TestStatus;
  directive?: Directive;
  /** Why it was skipped, failed or errored, in the producer's words. */
  reason?: string;
  durationMs?: number;
  /** Where the failure happened in the source under test (KUnit's `EXPECTATION FAILED at path:line`). */
  location?: SourceLocation;
  /** Lines printed while the test ran: diagnostics and whatever the kernel logged in between. */
  log: string[];
  children: TestCase[];
}

export interface TestCounts {
  passed: number;
  failed: number;
  skipped: number;
  errored: number;
  total: number;
}

export interface ParsedResults {
  format: ResultsFormat;
  /**
   * `failed` when any test failed, `errored` when output was cut short or a test never
   * finished, `skipped` when every test was skipped (kunit_tool's reading too).
   */
  status: "passed" | "failed" | "errored" | "skipped" | "no_tests";
  counts: TestCounts;
  tests: TestCase[];
  /** Problems met while reading: a missing result line, a plan that was not met, bad XML. */
  errors: string[];
}

export interface LeafTest extends Omit<TestCase, "children"> {
  /** Names of the enclosing suites, outermost first. */
  path: string[];
}

export function leaves(tests: readonly TestCase[], path: string[] = []): LeafTest[] {
  const out: LeafTest[] = [];
  for (const test of tests) {
    if (test.children.length === 0) {
      const { children: _children, ...rest } = test;
      out.push({ ...rest, path });
    } else out.push(...leaves(test.children, [...path, test.name]));
  }
  return out;
}

/** Counts leaf test cases, as the kernel's kunit_tool does. */
export function countLeaves(tests: readonly TestCase[]): TestCounts {
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0, errored: 0, total: 0 };
  for (const leaf of leaves(tests)) {
    counts[leaf.status] += 1;
    counts.total += 1;
  }
  return counts;
}

function anyNode(tests: readonly TestCase[], status: TestStatus): boolean {
  return tests.some((t) => t.status === status || anyNode(t.children, status));
}

export function finish(format: ResultsFormat, tests: TestCase[], errors: string[]): ParsedResults {
  const counts = countLeaves(tests);
  let status: ParsedResults["status"];
  if (counts.total === 0 && errors.length === 0) status = "no_tests";
  else if (counts.failed > 0 || anyNode(tests, "failed")) status = "failed";
  else if (counts.errored > 0 || errors.length > 0 || anyNode(tests, "errored")) status = "errored";
  else if (counts.total === 0) status = "no_tests";
  else status = "passed";
  return { format, status, counts, tests, errors };
}

export function emptyTest(name: string, status: TestStatus): TestCase {
  return { name, status, log: [], children: [] };
}
