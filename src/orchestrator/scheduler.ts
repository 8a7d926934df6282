import { labelKey } from "./labels.js";

export interface SchedulableJob {
  id: string;
  labels: readonly string[];
  repo: string | null;
}

export interface FreeEnvironment {
  id: string;
  labels: readonly string[];
  free: number;
}

export interface Assignment {
  jobId: string;
  envId: string;
}

export interface ScheduleOptions {
  /** Jobs of one repository allowed to hold environments at once; unlimited when absent. */
  repoCap?: number;
  /** Jobs each repository already holds. */
  activeByRepo?: ReadonlyMap<string, number>;
}

interface LabelGroup {
  labels: Set<string>;
  size: number;
  envs: FreeEnvironment[];
  free: number;
}

/**
 * Assigns jobs, already in dispatch order (priority, then arrival), to free environment
 * slots. A job no free environment fits is passed over, never waited for: a job for a busy
 * arm64 board does not hold back an x86 job behind it. Among fitting environments the one
 * with the fewest labels wins, so special hardware stays free for jobs that need it.
 */
export function assignJobs(jobs: readonly SchedulableJob[], environments: readonly FreeEnvironment[], options: ScheduleOptions = {}): Assignment[] {
  const groups = new Map<string, LabelGroup>();
  let totalFree = 0;
  for (const env of environments) {
    if (env.free <= 0) continue;
    const key = labelKey(env.labels);
    let group = groups.get(key);
    if (!group) {
      group = { labels: new Set(env.labels), size: env.labels.length, envs: [], free: 0 };
      groups.set(key, group);
    }
    group.envs.push({ ...env });
    group.free += env.free;
    totalFree += env.free;
  }
  const ordered = [...groups.values()].sort((a, b) => a.size - b.size);
  const fitting = new Map<string, LabelGroup[]>();
  const activeByRepo = new Map(options.activeByRepo ?? []);
  const assignments: Assignment[] = [];

  for (const job of jobs) {
    if (totalFree === 0) break;
    if (options.repoCap !== undefined && job.repo !== null && (activeByRepo.get(job.repo) ?? 0) >= options.repoCap) continue;
    const key = labelKey(job.labels);
    let candidates = fitting.get(key);
    if (!candidates) {
      candidates = ordered.filter((g) => job.labels.every((l) => g.labels.has(l)));
      fitting.set(key, candidates);
    }
    const group = candidates.find((g) => g.free > 0);
    if (!group) continue;
    const env = group.envs.reduce((best, e) => (e.free > best.free ? e : best));
    env.free -= 1;
    group.free -= 1;
    totalFree -= 1;
    assignments.push({ jobId: job.id, envId: env.id });
    if (job.repo !== null) activeByRepo.set(job.repo, (activeByRepo.get(job.repo) ?? 0) + 1);
  }
  return assignments;
}
