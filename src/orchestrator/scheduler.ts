import { classLabels, hostOfRunner, labelKey, labelsFit } from "./labels.js";
import { fits, type Placeable } from "./placement.js";
import type { RunnerScope } from "./scope.js";

export interface SchedulableJob extends Placeable {
  id: string;
  /** The runner that ran the build it boots: its host has the outputs, so it goes there when that is all one. */
  prefers?: string | null;
  /**
   * That runner's host (`hostOfRunner`): an ephemeral runner is gone after the build, and
   * the one its host registered next has the outputs as well.
   */
  prefersHost?: string | null;
}

export interface FreeRunner {
  id: string;
  labels: readonly string[];
  scope: RunnerScope;
  free: number;
}

export interface Assignment {
  jobId: string;
  runnerId: string;
}

export interface ScheduleOptions {
  /** Jobs of one repository allowed to hold runners at once; unlimited when absent. */
  repoCap?: number;
  /** Jobs each repository already holds. */
  activeByRepo?: ReadonlyMap<string, number>;
}

/** Free runners that take the same jobs: the same labels and the same scope. */
interface RunnerClass {
  labels: Set<string>;
  scope: RunnerScope;
  size: number;
  runners: FreeRunner[];
  free: number;
}

/** Jobs that fit the same runners get the same key. */
const placeableKey = (job: Placeable) => `${labelKey(job.labels)}|${job.repo?.toLowerCase() ?? ""}|${String(job.repoPrivate)}`;

/**
 * Assigns jobs, already in dispatch order (priority, then arrival), to free runner
 * slots they fit (labels and scope). A job no free runner fits is passed over, never
 * waited for: a job for a busy arm64 board does not hold back an x86 job behind it, nor a
 * job no runner of its repository can take one of another repository. Among fitting
 * runners the one with the fewest labels wins, so special hardware stays free for
 * jobs that need it. Within that class (runners with the same labels but their own, and the
 * same scope, so the same jobs fit each) a job goes to the runner it prefers, or else to
 * one on the host it prefers, when that has a free slot:
 * which jobs are assigned is the same whichever runner of a class takes one.
 */
export function assignJobs(jobs: readonly SchedulableJob[], runners: readonly FreeRunner[], options: ScheduleOptions = {}): Assignment[] {
  const groups = new Map<string, RunnerClass>();
  let totalFree = 0;
  for (const env of runners) {
    if (env.free <= 0) continue;
    const key = `${labelKey(classLabels(env.labels))}|${JSON.stringify(env.scope)}`;
    let group = groups.get(key);
    if (!group) {
      const labels = classLabels(env.labels);
      group = { labels: new Set(labels), scope: env.scope, size: labels.length, runners: [], free: 0 };
      groups.set(key, group);
    }
    group.runners.push({ ...env });
    group.free += env.free;
    totalFree += env.free;
  }
  const ordered = [...groups.values()].sort((a, b) => a.size - b.size);
  const fitting = new Map<string, RunnerClass[]>();
  const activeByRepo = new Map(options.activeByRepo ?? []);
  const assignments: Assignment[] = [];

  for (const job of jobs) {
    if (totalFree === 0) break;
    if (options.repoCap !== undefined && job.repo !== null && (activeByRepo.get(job.repo) ?? 0) >= options.repoCap) continue;
    const key = placeableKey(job);
    let candidates = fitting.get(key);
    if (!candidates) {
      // A class is matched on the labels its runners share; a job that names one runner by
      // its own label is matched to that runner below.
      const shared = { ...job, labels: classLabels(job.labels) };
      candidates = ordered.filter((group) => fits(shared, group));
      fitting.set(key, candidates);
    }
    const namesRunner = job.labels.length !== classLabels(job.labels).length;
    const takes = (e: FreeRunner) => e.free > 0 && (!namesRunner || labelsFit(job.labels, e.labels));
    const group = candidates.find((g) => g.free > 0 && (!namesRunner || g.runners.some(takes)));
    if (!group) continue;
    const eligible = group.runners.filter(takes);
    const preferred =
      (job.prefers ? eligible.find((e) => e.id === job.prefers) : undefined) ??
      (job.prefersHost ? eligible.find((e) => hostOfRunner(e.labels) === job.prefersHost) : undefined);
    const env = preferred ?? eligible.reduce((best, e) => (e.free > best.free ? e : best));
    env.free -= 1;
    group.free -= 1;
    totalFree -= 1;
    assignments.push({ jobId: job.id, runnerId: env.id });
    if (job.repo !== null) activeByRepo.set(job.repo, (activeByRepo.get(job.repo) ?? 0) + 1);
  }
  return assignments;
}
