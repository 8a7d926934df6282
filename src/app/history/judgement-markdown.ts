import { TEST_CLASSES, type ClassifiedTest, type TestClass } from "../../runners/history/comparison.js";
import { codeSpan, inlineText, plainText, webLink } from "../../runners/report/markdown.js";
import { regressionTests, type Judgement } from "./result-judge.js";

/** Tests a class lists on a check run; the count covers the rest, and the results artifact and dashboard list them all. */
const LISTED = 25;
/** The longest link a test's line carries; a longer one is named by its entry's number. */
const LINK_BYTES = 300;
/** Known issues a check run points out for removal: each may hold a link of 2,048 bytes, and the summary has 65,535. */
const KNOWN_LISTED = 10;
/** The most of a test's identity a list shows: one may be 64 levels of 256 characters. */
const ID_CHARS = 300;

/** A test's identity as a code span, cut to ID_CHARS. */
export function testSpan(id: string): string {
  const points = [...id];
  return codeSpan(points.length > ID_CHARS ? `${points.slice(0, ID_CHARS - 1).join("")}…` : id);
}

const HEADINGS: Record<TestClass, string> = {
  new: "New failures: regressions",
  still_failing: "Still failing (failed on the baseline too)",
  flaky: "Flaky (passed and failed on the base branch lately)",
  known: "Known issues",
  new_test: "New tests",
  fixed: "Fixed (failed on the baseline, pass now)",
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "1 regression, 3 still failing": the classes a check run's title leads with. */
export function judgementTitle(j: Judgement): string {
  const c = j.comparison.counts;
  const parts = [
    j.regressions > 0 ? plural(j.regressions, "regression") : "no regressions",
    ...(c.still_failing ? [`${c.still_failing} still failing`] : []),
    ...(c.flaky ? [`${c.flaky} flaky`] : []),
    ...(c.known ? [`${c.known} known`] : []),
    ...(c.fixed ? [`${c.fixed} fixed`] : []),
  ];
  return parts.join(", ");
}

/**
 * A known issue named by its link, when the link is short enough to repeat on every test it
 * covers: 25 tests a class, each with a link of 2,048 characters escaped, would take the
 * summary past GitHub's 65,535 bytes and cut the job's own report off its end.
 */
function knownIssueLink(entry: number, link: string | undefined, text = `known issue #${entry + 1}`): string {
  return link && Buffer.byteLength(link) <= LINK_BYTES ? webLink(text, link) : text;
}

function testLine(t: ClassifiedTest): string {
  const was = t.base === null ? "" : ` (was ${t.base})`;
  const known = t.known ? ` — ${knownIssueLink(t.known.entry, t.known.link)}` : "";
  return `- ${testSpan(t.id)}: ${t.head}${was}${known}`;
}

function classList(tests: readonly ClassifiedTest[]): string {
  const lines = tests.slice(0, LISTED).map(testLine);
  if (tests.length > LISTED) lines.push(`- … and ${tests.length - LISTED} more`);
  return lines.join("\n");
}

/**
 * The comparison as a check run's summary opens with it: what the baseline was, the
 * regressions listed first and open, every other class folded, then what the answer may miss.
 */
export function judgementMarkdown(j: Judgement, links: { serverUrl: string; repo: string }): string {
  const c = j.comparison;
  const commit = (sha: string) => `[${sha.slice(0, 7)}](${links.serverUrl}/${links.repo}/commit/${sha})`;
  const where = j.baseline
    ? `Compared with this job's results at ${commit(j.baseline.sha)}, ${
        j.baseline.commitsOlder === 0
          ? j.baseline.fromMergeBase
            ? "the merge base"
            : "the parent commit"
          : `${plural(j.baseline.commitsOlder, "commit")} older than the ${j.baseline.fromMergeBase ? "merge base" : "parent commit"} (the nearest with results)`
      }.`
    : "No baseline: this job has no results on the base branch to compare with.";
  const policy =
    j.failOn === "regressions"
      ? `Policy ${codeSpan("fail_on: regressions")}: red only for a regression or a new test that fails.`
      : `Policy ${codeSpan("fail_on: failures")}: red for any failure.`;
  const sections = [`## ${inlineText(judgementTitle(j))}`, `${where} ${policy}`];
  const byClass = (cls: TestClass) => c.tests.filter((t) => t.class === cls);
  const regressions = regressionTests(c);
  if (regressions.length > 0) sections.push(`### ${HEADINGS.new}\n\n${classList(regressions)}`);
  for (const cls of TEST_CLASSES) {
    if (cls === "new") continue;
    const tests = cls === "new_test" ? byClass(cls).filter((t) => !regressions.includes(t)) : byClass(cls);
    if (tests.length === 0) continue;
    sections.push(`<details><summary>${HEADINGS[cls]} (${tests.length})</summary>\n\n${classList(tests)}\n\n</details>`);
  }
  if (j.knownPassing.length > 0) {
    const lines = j.knownPassing.slice(0, KNOWN_LISTED).map((k) => {
      const name = knownIssueLink(k.entry, k.link, `Known issue #${k.entry + 1}`);
      return `- ${name}: its tests passed in this job at each of the base branch's last ${k.commits} commits that ran them (such as ${k.tests.map(testSpan).join(", ")})`;
    });
    if (j.knownPassing.length > KNOWN_LISTED) lines.push(`- … and ${j.knownPassing.length - KNOWN_LISTED} more`);
    sections.push(`### Known issues that may be ready to remove\n\n${lines.join("\n")}`);
  }
  const stale = new Set(j.knownPassing.map((k) => k.entry));
  const notes = [
    ...j.notes,
    ...(c.nowSkipped.length
      ? [`${plural(c.nowSkipped.length, "test")} passed on the baseline and ${c.nowSkipped.length === 1 ? "is" : "are"} skipped now.`]
      : []),
    ...c.incomplete.slice(0, 5),
    ...(c.incomplete.length > 5 ? [`… ${c.incomplete.length - 5} more gaps`] : []),
    ...c.knownNowPassing
      .filter((k) => !stale.has(k.entry))
      .slice(0, 5)
      .map((k) => `Known issue #${k.entry + 1} passes now (${k.test}): once it keeps passing on the base branch, it can be removed.`),
  ];
  // Notes quote test names and a runner's reasons: plain text, so none of it is a link, an image or a tag.
  if (notes.length > 0) sections.push(notes.map((n) => `> ${plainText(n)}`).join("\n>\n"));
  return sections.join("\n\n");
}
