/**
 * The HTTP status a failed request answered with, if it got an answer: a dispatcher's or a
 * publisher's error carries it (Octokit's do), and it says whether a retry can help.
 */
export function httpStatusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null | undefined)?.status;
  return typeof status === "number" ? status : undefined;
}
