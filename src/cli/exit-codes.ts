export const EXIT = {
  /** Every job succeeded (or the command did what it was asked). */
  ok: 0,
  /** At least one job did not succeed. */
  failed: 1,
  /** The config or the command line is wrong; nothing ran. */
  usage: 2,
} as const;

export class UsageError extends Error {
  override readonly name = "UsageError";
}
