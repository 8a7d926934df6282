import * as core from "@actions/core";

/**
 * GitHub Actions shows at most 10 error and 10 warning annotations a step and drops the
 * rest without a word, and failing the step (`setFailed`) is an error annotation too: the
 * 11th error, after ten failing tests, would be the one that says why the step failed.
 */
export const STEP_ANNOTATIONS = 10;

/** Warnings a step keeps for what it may still have to say after its findings: the App not taking the report, the check run not made. */
export const LATE_WARNINGS = 2;

export type AnnotationKind = "error" | "warning";

/** Where annotations go: @actions/core, or a test's record of them. */
export interface AnnotationSink {
  error(message: string, properties?: core.AnnotationProperties): void;
  warning(message: string, properties?: core.AnnotationProperties): void;
  notice(message: string, properties?: core.AnnotationProperties): void;
  setFailed(message: string): void;
}

/**
 * The action's one way to annotate its step: it makes no more annotations of a kind than
 * GitHub shows, keeps the last error for the step's failure, and counts what it left out
 * so the step can say so.
 */
export class StepAnnotations {
  private readonly made: Record<AnnotationKind, number> = { error: 0, warning: 0 };
  readonly leftOut: Record<AnnotationKind, number> = { error: 0, warning: 0 };

  constructor(private readonly sink: AnnotationSink = core) {}

  /** How many more of `kind` the step shows, keeping `keep` for later; an error's last place is always the failure's. */
  room(kind: AnnotationKind, keep = 0): number {
    const capacity = kind === "error" ? STEP_ANNOTATIONS - 1 : STEP_ANNOTATIONS;
    return Math.max(0, capacity - keep - this.made[kind]);
  }

  /** Makes the annotation while there is room (past `keep`); otherwise counts it as left out. Returns whether it was made. */
  annotate(kind: AnnotationKind, message: string, properties: core.AnnotationProperties = {}, keep = 0): boolean {
    if (this.room(kind, keep) === 0) {
      this.leftOut[kind] += 1;
      return false;
    }
    this.made[kind] += 1;
    if (kind === "error") this.sink.error(message, properties);
    else this.sink.warning(message, properties);
    return true;
  }

  error(message: string, properties?: core.AnnotationProperties): boolean {
    return this.annotate("error", message, properties);
  }

  warning(message: string, properties?: core.AnnotationProperties): boolean {
    return this.annotate("warning", message, properties);
  }

  /** A notice: the step makes only a few (GitHub shows 10), so they are not counted. */
  notice(message: string): void {
    this.sink.notice(message);
  }

  /** Says, in one notice, how many annotations GitHub would not have shown and `where` they are; nothing when none were left out. */
  noteLeftOut(where: string): void {
    const { error, warning } = this.leftOut;
    if (error + warning === 0) return;
    const counts = [error > 0 ? `${error} error${error === 1 ? "" : "s"}` : "", warning > 0 ? `${warning} warning${warning === 1 ? "" : "s"}` : ""]
      .filter(Boolean)
      .join(" and ");
    this.sink.notice(`kto: ${counts} left out of this step's annotations (GitHub shows ${STEP_ANNOTATIONS} of each a step); they are all in ${where}`);
  }

  /** Fails the step: its message takes the error place kept for it, so it always shows. */
  fail(message: string): void {
    this.made.error += 1;
    this.sink.setFailed(message);
  }
}
