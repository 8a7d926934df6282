import type { BisectionRecord, Store } from "../../orchestrator/store/store.js";
import { splitRepo, type Octokit } from "../github/github-api.js";
import { BISECT_CHECK_RUN, bisectExternalId, cancelledOutput, finishedOutput, runningOutput, type BisectionView } from "./bisection-markdown.js";
import { bisectionStateSchema, commitsSchema, nextBisectionMove, testsSchema, type BisectionState } from "./bisection-state.js";

export interface BisectionCheckRunDeps {
  bisections: Pick<Store["bisections"], "setCheckRunId">;
  serverUrl: string;
  /** The App's public URL when its dashboard is on: the check run links the bisection's page there. */
  dashboardUrl?: string;
}

/** The `kto / bisect` check run of a bisection, on its bad commit: where it is, and at the end its answer. */
export class BisectionCheckRun {
  constructor(private readonly deps: BisectionCheckRunDeps) {}

  /** Created in progress (no button: GitHub would not show it; the regression's check run has Stop bisect); its id, kept with the bisection. */
  async open(octokit: Octokit, record: BisectionRecord, state: BisectionState): Promise<number> {
    const { owner, repo } = splitRepo(record.repo);
    const { data: run } = await octokit.rest.checks.create({
      owner,
      repo,
      name: BISECT_CHECK_RUN,
      head_sha: record.badSha,
      external_id: bisectExternalId(record.id),
      status: "in_progress",
      output: runningOutput(this.view(record, state)),
    });
    await this.deps.bisections.setCheckRunId(record.id, run.id);
    return run.id;
  }

  async running(octokit: Octokit, record: BisectionRecord, state: BisectionState): Promise<void> {
    await this.update(octokit, record, { status: "in_progress", output: runningOutput(this.view(record, state)) });
  }

  /**
   * A bisection that ended, as its stored state says: its answer, or who cancelled it and
   * what it had learnt. The same every time it is asked, so it may be shown again after a
   * failure left it unshown; a running one shows nothing here.
   */
  async ended(octokit: Octokit, record: BisectionRecord): Promise<void> {
    const state = bisectionStateSchema.parse(JSON.parse(record.state));
    const view = this.view(record, state);
    // A finished bisection offers no button (one made by an earlier release had Cancel).
    if (record.status === "cancelled")
      return this.update(octokit, record, {
        status: "completed",
        conclusion: "cancelled",
        output: cancelledOutput(view, state.cancelledBy ?? "someone"),
        actions: [],
      });
    if (record.status === "running") return;
    const move = nextBisectionMove(view.commits.length, state);
    if (move.kind === "test") return;
    await this.update(octokit, record, { status: "completed", conclusion: "neutral", output: finishedOutput(view, move), actions: [] });
  }

  private async update(
    octokit: Octokit,
    record: BisectionRecord,
    fields: {
      status: "in_progress" | "completed";
      conclusion?: "neutral" | "cancelled";
      output: { title: string; summary: string };
      actions?: { label: string; identifier: string; description: string }[];
    },
  ): Promise<void> {
    if (record.checkRunId === null) return;
    const { owner, repo } = splitRepo(record.repo);
    await octokit.rest.checks.update({ owner, repo, check_run_id: record.checkRunId, ...fields });
  }

  private view(record: BisectionRecord, state: BisectionState): BisectionView {
    return {
      repo: record.repo,
      serverUrl: this.deps.serverUrl,
      suite: record.suite,
      jobKey: record.jobKey,
      goodSha: record.goodSha,
      badSha: record.badSha,
      shown: testsSchema.parse(JSON.parse(record.tests)).map((t) => t.shown),
      commits: commitsSchema.parse(JSON.parse(record.commits)),
      state,
      startedBy: record.startedBy,
      ...(this.deps.dashboardUrl
        ? { pageUrl: `${this.deps.dashboardUrl}/kto/bisections?${new URLSearchParams({ repo: record.repo, id: record.id }).toString()}` }
        : {}),
    };
  }
}
