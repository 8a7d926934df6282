import { MAX_LISTED_ISSUES } from "./limits.js";

/** One problem in a config file, positioned for an editor: `file:line:column: path: message`. */
export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Dotted path of the offending field, such as `suites[1].timeout`; empty for the document itself. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly issues: readonly ConfigIssue[];

  /**
   * Lists the first MAX_LISTED_ISSUES problems and counts the rest at the first one left out.
   * `total` is for a caller that stopped turning problems into issues past that many.
   */
  constructor(issues: readonly ConfigIssue[], total = issues.length) {
    const listed = issues.slice(0, MAX_LISTED_ISSUES);
    const firstLeftOut = issues[MAX_LISTED_ISSUES];
    if (firstLeftOut) {
      const more = total - MAX_LISTED_ISSUES;
      listed.push({ ...firstLeftOut, message: `and ${more} more problem${more === 1 ? "" : "s"} from here on` });
    }
    super(listed.map(formatIssue).join("\n"));
    this.issues = listed;
  }
}

/** A ConfigError of `items`, turning into issues only those it lists (locating one can be costly). */
export function configErrorOf<T>(items: readonly T[], toIssue: (item: T) => ConfigIssue): ConfigError {
  return new ConfigError(items.slice(0, MAX_LISTED_ISSUES + 1).map(toIssue), items.length);
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    // A key that is no field name is quoted, so the path stays one unambiguous line.
    else if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += `[${JSON.stringify(part)}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

/** Names as a message lists them: the first ten, then how many more, so a message stays short however many there are. */
export function listedNames(names: readonly string[], max = 10): string {
  return `${names.slice(0, max).join(", ")}${names.length > max ? ` and ${names.length - max} more` : ""}`;
}
