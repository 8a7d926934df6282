import { httpStatusOf } from "../../orchestrator/http-status.js";
import { inlineText } from "../../runners/report/markdown.js";
import { withinBytes } from "./check-run-limits.js";

/**
 * GitHub refuses a check run's output it finds invalid with 422 and changes nothing, and no
 * retry of the same request can change that answer: a finished job's check run would stay
 * in progress, without its conclusion or its Re-run button. kto's cuts follow GitHub's
 * documented limits; this is for whatever they did not foresee.
 */
export function refusedForContent(error: unknown): boolean {
  return httpStatusOf(error) === 422;
}

/** What the fallback says GitHub refused: its message, on one line and short, as it may quote the output. */
const REFUSAL_BYTES = 500;

interface LeftOut {
  /** The summary's size, in bytes, as it was refused. */
  summaryBytes: number;
  annotations: number;
}

/** Where a job's full results are, as Markdown links (to its results artifact, its workflow run). */
export type ResultsLinks = { text: string; url: string }[];

/** Where a job's full results are, as a sentence of the fallback. */
export function whereResultsAre(links: ResultsLinks): string {
  return links.length > 0
    ? `The job's results are in ${links.map((l) => `[${l.text}](${l.url})`).join(" and ")}.`
    : "The job's results are in its results artifact, on its workflow run.";
}

/**
 * A short output that surely fits: it says GitHub refused the full one, and why, names what
 * it leaves out and says `where` the rest is. Nothing of the refused output is in it but
 * its size, since any of it may be what GitHub refused.
 */
function fallbackSummary(refusal: unknown, leftOut: LeftOut, where: string): string {
  const why = withinBytes(inlineText(refusal instanceof Error ? refusal.message : String(refusal)).replace(/\s+/g, " "), REFUSAL_BYTES);
  const annotations = leftOut.annotations > 0 ? ` and ${leftOut.annotations} annotation${leftOut.annotations === 1 ? "" : "s"}` : "";
  return [
    `**GitHub refused this check run's full output** (${why}), so it shows this short one instead.`,
    `Left out: the summary (${leftOut.summaryBytes} bytes)${annotations}.`,
    where,
  ].join("\n\n");
}

/** The output sent in place of `refused`: `title`, and a summary that says what was left out and `where` the rest is. */
export function fallbackOutput(refusal: unknown, refused: { summary: string; annotations?: readonly unknown[] }, title: string, where: string) {
  const leftOut = { summaryBytes: Buffer.byteLength(refused.summary), annotations: refused.annotations?.length ?? 0 };
  return { title, summary: fallbackSummary(refusal, leftOut, where) };
}

/**
 * Sends `fields`; when GitHub refuses them for their content, sends `fallback(error)`
 * instead, once. Any other failure, or a refused fallback, is thrown as it came.
 */
export async function sendOrFallBack<F, R>(send: (fields: F) => Promise<R>, fields: F, fallback: (refusal: unknown) => F): Promise<R> {
  try {
    return await send(fields);
  } catch (error) {
    if (!refusedForContent(error)) throw error;
    return send(fallback(error));
  }
}
