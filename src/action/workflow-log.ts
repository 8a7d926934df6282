import { randomBytes } from "node:crypto";
import { EOL } from "node:os";

/*
 * The action's one way to print text to the step's log. The Actions runner reads every
 * line of a step's output as a possible workflow command: one that starts with `::` after
 * leading whitespace (`::add-mask::…`, `::error file=…::…`), or one that holds `##[`
 * anywhere (the older syntax); a line ends at a line feed, a carriage return or both.
 * A job's name comes from a pull request's config and its reasons from the job's output,
 * so they could hold such a line. Commands the action means to give (annotations, groups,
 * masks, failing the step) go through @actions/core, which escapes line breaks in their
 * data and `:` and `,` in their properties; everything else the action prints goes here.
 */

// Whatever could end a line for the runner, or for a reader that splits more widely (NEL, U+2028, U+2029).
const COMMAND_SHAPED = /[\r\n\u0085\u2028\u2029]|::|##\[/;

/**
 * Prints `text`. Text that could hold a command is printed between `::stop-commands::<token>`
 * and `::<token>::`, the runner's own way to show text without acting on it: it shows as
 * it is, and cannot resume commands early, as the token is made afresh for each block,
 * after the text, and is never one the text holds. Other text is printed as it is, so
 * the log stays free of markers for what kto says itself.
 */
export function printLog(text: string): void {
  if (!COMMAND_SHAPED.test(text)) {
    process.stdout.write(`${text}${EOL}`);
    return;
  }
  let token = randomBytes(16).toString("hex");
  while (text.includes(token)) token = randomBytes(16).toString("hex");
  // One write: nothing the action prints can fall between the markers.
  process.stdout.write(`::stop-commands::${token}${EOL}${text}${EOL}::${token}::${EOL}`);
}
