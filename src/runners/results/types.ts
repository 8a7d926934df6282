export type ResultsFormat = "ktap" | "tap" | "junit";
export type TestStatus = "passed" | "failed" | "skipped" | "errored";
export type Directive = "skip" | "todo" | "xfail" | "timeout" | "error";

/**
 * The deepest nesting a parser follows. Each level costs a stack frame, and a few kilobytes of
 * `# Subtest:` lines would otherwise overflow the stack; real suites nest three or four deep.
 */
export const MAX_NESTING = 64;

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
  collectLeaves(tests, path, out);
  return out;
}

/** Appends to one array rather than spreading each level's: a suite can hold more cases than a call takes arguments. */
function collectLeaves(tests: readonly TestCase[], path: string[], out: LeafTest[]): void {
  for (const test of tests) {
    if (test.children.length === 0) {
      const { children: _children, ...rest } = test;
      out.push({ ...rest, path });
    } else collectLeaves(test.children, [...path, test.name], out);
  }
}

/** Counts leaf test cases, as the kernel's kunit_tool does. */
export function countLeaves(tests: readonly TestCase[]): TestCounts {
  const counts: TestCounts = { passed: 0, failed: 0, skipped: 0, errored: 0, total: 0 };
  const visit = (level: readonly TestCase[]): void => {
    for (const test of level) {
      if (test.children.length > 0) visit(test.children);
      else {
        counts[test.status] += 1;
        counts.total += 1;
      }
    }
  };
  visit(tests);
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
  else if (counts.skipped === counts.total) status = "skipped";
  else status = "passed";
  return { format, status, counts, tests, errors };
}

export function emptyTest(name: string, status: TestStatus): TestCase {
  return { name, status, log: [], children: [] };
}

/** A parse's allowance of stand-ins for tests that never reported. */
export interface Budget {
  left: number;
}

/** Enough for any real suite cut short; a forged `1..4000000000` must not allocate one per number. */
export function placeholderBudget(): Budget {
  return { left: 100_000 };
}

/**
 * Errored stand-ins for the planned tests `from` to `to` that never reported, one each as
 * kunit_tool counts them while the budget lasts, then one for all the rest.
 */
export function unreported(from: number, to: number, reason: string, budget: Budget): TestCase[] {
  const tests: TestCase[] = [];
  const stand = (name: string) => {
    const test = emptyTest(name, "errored");
    test.reason = reason;
    tests.push(test);
  };
  let next = from;
  for (; next <= to && budget.left > 0; next++, budget.left--) stand(`(test ${next} never reported)`);
  if (next <= to) stand(`(tests ${next} to ${to} never reported)`);
  return tests;
}
