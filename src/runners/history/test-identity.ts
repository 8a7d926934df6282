import { createHash } from "node:crypto";
import type { TestStatus } from "../results/types.js";

/**
 * The longest part of an identity kept as written. A longer name (a fuzzer's, a generated
 * parameter list) keeps its first characters and a digest of the whole, so identities stay
 * bounded and two long names that differ only at the end stay apart.
 */
export const MAX_IDENTITY_PART_CHARS = 256;
const DIGEST_CHARS = 12;
export const IDENTITY_SEPARATOR = " › ";

/** The job a test ran in, as history tells jobs apart: the suite and its matrix values. */
export interface JobIdentity {
  suite: string;
  matrix: Readonly<Record<string, string>>;
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
 * A test's identity: its job's, then the names of the results' levels down to the case
 * (suite › subtest › case). The path is the parser's, which names each level after what
 * printed it (a kselftest program's cases sit under that program's own result line).
 */
export function testIdentity(job: JobIdentity, path: readonly string[], name: string): string {
  return [jobIdentity(job), ...path, name].map(boundedPart).join(IDENTITY_SEPARATOR);
}

/** The part of an identity below its job: what a known issue's glob is matched against. */
export function pathIdentity(path: readonly string[], name: string): string {
  return [...path, name].map(boundedPart).join(IDENTITY_SEPARATOR);
}

export function isFailing(status: TestStatus): boolean {
  return status === "failed" || status === "errored";
}
