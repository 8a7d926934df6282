/** One Kconfig line: `CONFIG_X=value`, or `# CONFIG_X is not set`, which is `n`. */
const SET = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const NOT_SET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;

/** A .config or a fragment as symbol → value, `n` for a symbol said not to be set; later lines win, as in Kconfig. */
export function readKconfig(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const set = SET.exec(line);
    if (set) values.set(set[1]!, set[2]!);
    const notSet = NOT_SET.exec(line);
    if (notSet) values.set(notSet[1]!, "n");
  }
  return values;
}

export interface RequestedOption {
  name: string;
  value: string;
  /** Where it was asked for: `config[3]` or the fragment's path. */
  source: string;
}

export interface UnmetOption extends RequestedOption {
  /** What the final .config has: a value, `n`, or null when the symbol is not in it at all. */
  actual: string | null;
  message: string;
}

/**
 * Options the build asked for that its final .config does not have with that value: a
 * dependency left unmet or a misspelt name, which Kconfig drops without a word (as
 * kunit_tool's validate_config reports). Asking for `n` is met by a symbol that is absent.
 */
export function unmetOptions(requested: Iterable<RequestedOption>, finalConfig: string): UnmetOption[] {
  const final = readKconfig(finalConfig);
  const last = new Map<string, RequestedOption>();
  for (const option of requested) {
    last.delete(option.name);
    last.set(option.name, option);
  }
  const unmet: UnmetOption[] = [];
  for (const option of last.values()) {
    const actual = final.get(option.name) ?? null;
    if ((actual ?? "n") === option.value) continue;
    const has =
      actual === null
        ? "does not have it: a dependency is unmet or the name is misspelt"
        : actual === "n"
          ? "has it not set: a dependency is unmet"
          : `has ${option.name}=${actual}: a dependency limits it`;
    unmet.push({ ...option, actual, message: `${option.name}=${option.value} was asked for (${option.source}) but the final .config ${has}` });
  }
  return unmet;
}
