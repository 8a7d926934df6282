import { XMLParser } from "fast-xml-parser";
import { emptyTest, finish, type ParsedResults, type TestCase } from "./types.js";

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  textNodeName: "#text",
  isArray: (name) => ["testsuite", "testcase", "failure", "error", "skipped", "system-out", "system-err"].includes(name),
});

/** Reads JUnit XML as Jenkins, GitLab and pytest write it: nested testsuites, failure/error/skipped. */
export function parseJunit(text: string): ParsedResults {
  let doc: XmlNode;
  try {
    doc = parser.parse(text) as XmlNode;
  } catch (error) {
    return finish("junit", [], [`not well-formed XML: ${(error as Error).message}`]);
  }
  const root = (doc.testsuites ?? doc) as XmlNode;
  const suites = asArray(root.testsuite);
  const tests = suites.map(suiteToTest);
  if (suites.length === 0 && !("testsuites" in doc)) return finish("junit", [], ["no <testsuite> or <testsuites> element"]);
  return finish("junit", tests, []);
}

function asArray(value: unknown): XmlNode[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is XmlNode => typeof v === "object" && v !== null);
}

/** Every occurrence of an element, empty ones (`<failure/>`) included. */
function all(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

function text(node: unknown): string {
  if (typeof node === "string") return node;
  if (node && typeof node === "object") {
    const n = node as XmlNode;
    const message = typeof n["@message"] === "string" ? n["@message"] : "";
    const body = typeof n["#text"] === "string" ? n["#text"] : "";
    return [message, body].filter(Boolean).join("\n").trim();
  }
  return "";
}

function seconds(value: unknown): number | undefined {
  const n = typeof value === "string" ? Number(value) : typeof value === "number" ? value : NaN;
  return Number.isFinite(n) ? Math.round(n * 1000) : undefined;
}

function suiteToTest(suite: XmlNode): TestCase {
  const test = emptyTest(String(suite["@name"] ?? "testsuite"), "passed");
  const duration = seconds(suite["@time"]);
  if (duration !== undefined) test.durationMs = duration;
  test.children = [...asArray(suite.testsuite).map(suiteToTest), ...asArray(suite.testcase).map(caseToTest)];
  const statuses = test.children.map((c) => c.status);
  test.status = statuses.includes("failed")
    ? "failed"
    : statuses.includes("errored")
      ? "errored"
      : statuses.length > 0 && statuses.every((s) => s === "skipped")
        ? "skipped"
        : "passed";
  return test;
}

function caseToTest(node: XmlNode): TestCase {
  const name = String(node["@name"] ?? "testcase");
  const test = emptyTest(name, "passed");
  const duration = seconds(node["@time"]);
  if (duration !== undefined) test.durationMs = duration;
  const [failure] = all(node.failure);
  const [error] = all(node.error);
  const [skipped] = all(node.skipped);
  if (failure !== undefined) {
    test.status = "failed";
    test.reason = text(failure) || "failed";
  } else if (error !== undefined) {
    test.status = "errored";
    test.reason = text(error) || "error";
  } else if (skipped !== undefined) {
    test.status = "skipped";
    test.directive = "skip";
    const reason = text(skipped);
    if (reason) test.reason = reason;
  }
  const file = node["@file"];
  const line = Number(node["@line"]);
  if (typeof file === "string" && Number.isInteger(line) && line > 0) test.location = { file, line };
  for (const out of [...all(node["system-out"]), ...all(node["system-err"])]) {
    for (const line of text(out).split("\n")) test.log.push(line);
  }
  return test;
}
