import * as core from "@actions/core";
import { writeFile } from "node:fs/promises";
import { z } from "zod";
import type { RunEvent } from "../orchestrator/dispatcher.js";
import { errorText } from "../orchestrator/logger.js";

const RETRYABLE = new Set([429, 500, 502, 503, 504]);

export interface RunEventClientOptions {
  appUrl: string;
  jobId: string;
  attempt: number;
  /** Where the final report is also written, so nothing is lost while the App is down. */
  reportFile: string;
  attempts?: number;
  baseDelayMs?: number;
  fetch?: typeof fetch;
  getToken?: (audience: string) => Promise<string>;
  /** How a report the App did not take is told: a warning on the step (the action counts them against GitHub's 10 a step). */
  warn?: (message: string) => void;
  /** The App answered that the job is no longer this run's to run (cancelled, given back): its state then. */
  onStop?: (state: string) => void;
}

/** What the App answers a report with; `stop` is absent from an App older than it. */
const answerSchema = z.object({ state: z.string().optional(), stop: z.boolean().optional() });

/**
 * Sends a run's events to the App, each authenticated with a GitHub Actions OIDC token of
 * its own: a token lives minutes, a kernel test may run for hours.
 */
export class RunEventClient {
  private readonly endpoint: string;
  private readonly audience: string;

  constructor(private readonly options: RunEventClientOptions) {
    const base = new URL(options.appUrl);
    this.endpoint = new URL(`kto/api/jobs/${encodeURIComponent(options.jobId)}/events`, base.href.endsWith("/") ? base : `${base.href}/`).href;
    this.audience = base.origin;
  }

  private warn(message: string): void {
    (this.options.warn ?? core.warning)(message);
  }

  async send(report: RunEvent): Promise<boolean> {
    if (report.kind === "finished")
      await writeFile(this.options.reportFile, `${JSON.stringify({ jobId: this.options.jobId, attempt: this.options.attempt, ...report }, null, 2)}\n`);
    const body = JSON.stringify({ attempt: this.options.attempt, ...report });
    const attempts = this.options.attempts ?? 5;
    const doFetch = this.options.fetch ?? fetch;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let failure: string;
      try {
        const response = await doFetch(this.endpoint, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${await this.oidcToken()}` },
          body,
        });
        if (response.ok) {
          const answer = answerSchema.safeParse(await response.json().catch(() => null));
          if (answer.success && answer.data.stop) this.options.onStop?.(answer.data.state ?? "unknown");
          return true;
        }
        failure = `HTTP ${response.status}`;
        if (!RETRYABLE.has(response.status)) {
          // A body that cannot be read leaves the status to say why.
          this.warn(`kto App refused the ${report.kind} report: ${failure} ${await response.text().catch(() => "")}`.trim());
          return false;
        }
      } catch (error) {
        // fetch's own message is only "fetch failed": the cause says what failed (ECONNREFUSED, a TLS error).
        failure = errorText(error);
      }
      if (attempt === attempts) {
        this.warn(`kto App unreachable for the ${report.kind} report (${failure}); the report is kept in ${this.options.reportFile}`);
        return false;
      }
      const delay = (this.options.baseDelayMs ?? 1000) * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, delay / 2 + Math.random() * (delay / 2)));
    }
    return false;
  }

  private async oidcToken(): Promise<string> {
    const token = await (this.options.getToken ?? ((audience: string) => core.getIDToken(audience)))(this.audience);
    core.setSecret(token);
    return token;
  }
}
