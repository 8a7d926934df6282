import type { IncomingMessage, ServerResponse } from "node:http";
import type client from "prom-client";
import { z } from "zod";
import { OUTCOMES, TERMINAL_STATES } from "../../config/job-spec.js";
import { ACTIVE_STATES, isTerminal, type JobState } from "../../orchestrator/job-state.js";
import type { OrchestratorService } from "../../orchestrator/service.js";
import { runnerRun, type FindRun } from "../github/github-dispatcher.js";
import { issuesOf, parseJson, send } from "./http-json.js";
import { jobReportSchema } from "./job-report-schema.js";
import { storedReason } from "./stored-report.js";
import { notFromRunnerWorkflow, UnauthorizedError, type ActionsClaims } from "./oidc.js";
import { MB, type BodyIntake } from "./request-body.js";
import type { ResultHistory } from "../../orchestrator/store/result-history.js";
import { recordResults, reportedCasesSchema } from "../history/record-results.js";

/** How a run may end: `skipped` is kto's own word for a job that never ran, never a run's. */
const RUN_ENDS = TERMINAL_STATES.filter((state) => state !== "skipped") as [
  Exclude<(typeof TERMINAL_STATES)[number], "skipped">,
  ...Exclude<(typeof TERMINAL_STATES)[number], "skipped">[],
];

// No run id in `started` (zod drops the one the action sends): that is the run's word for itself, and the App binds runs itself.
const eventSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("started"), attempt: z.number().int().min(1) }),
  z.object({ kind: z.literal("heartbeat"), attempt: z.number().int().min(1) }),
  z.object({
    kind: z.literal("finished"),
    attempt: z.number().int().min(1),
    status: z.enum(RUN_ENDS),
    outcome: z.enum(OUTCOMES).optional(),
    reason: z.string().transform(storedReason).optional(),
    infrastructure: z.boolean().optional(),
    result: jobReportSchema.optional(),
    cases: reportedCasesSchema.optional(),
    casesOmitted: z.number().int().min(0).optional(),
  }),
]);

export interface RunEventDeps {
  service: Pick<OrchestratorService, "reads" | "recordRunId" | "recordRunEvent">;
  /** Where a finished attempt's cases are kept, before the job's end is recorded (its check run compares them). */
  history: Pick<ResultHistory, "record">;
  now: () => number;
  intake: BodyIntake;
  verify: (token: string) => Promise<ActionsClaims>;
  runnerWorkflow: string;
  findRun: FindRun;
  /** Counts each report by what became of it. */
  reports: client.Counter<"result">;
}

/** Answers POST /kto/api/jobs/<id>/events: a runner's report on its job, taken only from the run that job was dispatched as. */
export async function serveRunEvents(deps: RunEventDeps, jobId: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const { service, reports } = deps;
  const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
  if (!token) {
    reports.inc({ result: "unauthorized" });
    return send(response, 401, { message: "a GitHub Actions OIDC token is required" });
  }
  let claims: ActionsClaims;
  try {
    claims = await deps.verify(token);
  } catch (error) {
    reports.inc({ result: "unauthorized" });
    return send(response, 401, { message: error instanceof UnauthorizedError ? `invalid token: ${error.message}` : "invalid token" });
  }
  const job = await service.reads.jobs.job(jobId);
  const plan = job ? await service.reads.plans.plan(job.planId) : null;
  const refuse = (message: string) => {
    reports.inc({ result: "unauthorized" });
    send(response, 401, { message });
  };
  if (!job || !plan?.repo) return refuse("the token's repository and run do not match this job");
  const foreign = notFromRunnerWorkflow(claims, {
    repository: plan.repo,
    workflowPath: `.github/workflows/${deps.runnerWorkflow}`,
    ref: `refs/heads/${runnerRun(plan, job).ref}`,
  });
  if (foreign) return refuse(foreign);
  // The token must come from the very run this attempt was dispatched as, whether or not the App knows that run's id yet.
  let runId = job.runId;
  if (runId === null) {
    if (!(ACTIVE_STATES as readonly JobState[]).includes(job.state)) return refuse(`job ${jobId} has no run dispatched (it is ${job.state})`);
    runId = await deps.findRun(job, plan);
    if (runId === null) {
      reports.inc({ result: "retry" });
      return send(response, 503, { message: `GitHub does not list the run of job ${jobId} attempt ${job.attempt} yet; retry` }, "application/json", {
        "retry-after": "5",
      });
    }
    await service.recordRunId(job.id, job.attempt, runId);
  }
  if (runId !== claims.run_id) return refuse(`run ${claims.run_id} is not the run job ${jobId} attempt ${job.attempt} was dispatched as`);
  const body = parseJson((await deps.intake.read(response, 5 * MB)).text());
  if (!body.ok) return send(response, 400, { message: body.message });
  const parsed = eventSchema.safeParse(body.value);
  if (!parsed.success) return send(response, 400, { message: issuesOf(parsed.error) });
  const { attempt, ...event } = parsed.data;
  const report = event.kind === "finished" ? withoutCases(event) : event;
  // History first: the job's end sends its check run, which compares these cases with its baseline's.
  if (event.kind === "finished" && event.cases && attempt === job.attempt && (ACTIVE_STATES as readonly JobState[]).includes(job.state))
    await recordResults(deps.history, job, plan, { ...event, cases: event.cases }, deps.now());
  const after = await service.recordRunEvent(jobId, attempt, report);
  reports.inc({ result: after ? "applied" : "ignored" });
  const now = after ?? (await service.reads.jobs.job(jobId));
  // A batch's run goes on while one of its jobs is cancelled or given back: that job's runner
  // hears it here, in the answer to its next report, and stops.
  const stop = !now || now.attempt !== attempt || isTerminal(now.state);
  send(response, 200, { state: now?.state ?? job.state, applied: after !== null, stop });
}

function withoutCases<E extends { cases?: unknown; casesOmitted?: number }>(event: E): Omit<E, "cases" | "casesOmitted"> {
  const { cases: _cases, casesOmitted: _omitted, ...rest } = event;
  return rest;
}
