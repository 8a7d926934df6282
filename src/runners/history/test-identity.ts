import { createHash } from "node:crypto";
import type { TestStatus } from "../results/types.js";

/**
 * The longest part of an identity kept as written. A longer name (a fuzzer's, a generated
 * parameter list) keeps its first characters and a digest of the whole, so identities stay
 * bounded and two long names that differ only at the end stay apart.
 */
export const MAX_IDENTITY_PART_CHARS = 256;
const DIGEST_CHARS = 12;
/** How an identity is shown: levels joined by this. The key compares levels, not this text. */
export const IDENTITY_SEPARATOR = " › ";

/** The job a test ran in, as history tells jobs apart: the suite and its matrix values. */
export interface JobIdentity {
  suite: string;
  matrix: Readonly<Record<string, string>>;
}

/** A test's identity: its job's, the levels of the results down to it, and which of the tests with those names it was. */
export interface TestIdentity {
  job: string;
  path: readonly string[];
  name: string;
  /** 1 for the first test of this job, path and name in the run, 2 for a second, … */
  occurrence: number;
}

export function boundedPart(part: string): string {
  if (part.length <= MAX_IDENTITY_PART_CHARS) return part;
  const digest = createHash("sha256").update(part).digest("hex").slice(0, DIGEST_CHARS);
  return `${part.slice(0, MAX_IDENTITY_PART_CHARS - DIGEST_CHARS - 2)}…#${digest}`;
}

/** `suite` or `suite[key=value,…]`, the matrix keys sorted, so a config that reorders them keeps its history. */
export function jobIdentity(job: JobIdentity): string {
  const keys = Object.keys(job.matrix).sort();
  const matrix = keys.length ? `[${keys.map((k) => `${k}=${job.matrix[k]}`).join(",")}]` : "";
  return boundedPart(`${job.suite}${matrix}`);
}

/**
 * What history compares identities by: every level kept apart (a name holding " › " is
 * not two levels), and a second test of the same names apart from the first.
 */
export function identityKey(identity: TestIdentity): string {
  return JSON.stringify([identity.job, ...identity.path.map(boundedPart), boundedPart(identity.name), identity.occurrence]);
}

/** The part of an identity below its job, as shown and as a known issue's glob is matched against. */
export function pathText(path: readonly string[], name: string): string {
  return [...path, name].map(boundedPart).join(IDENTITY_SEPARATOR);
}

/** `job › suite › case`, and ` (#2)` for a second test of those names in one run. */
export function identityText(identity: TestIdentity): string {
  const text = `${identity.job}${IDENTITY_SEPARATOR}${pathText(identity.path, identity.name)}`;
  return identity.occurrence > 1 ? `${text} (#${identity.occurrence})` : text;
}

export function isFailing(status: TestStatus): boolean {
  return status === "failed" || status === "errored";
}
