/** ccache's counters from `ccache --print-stats` (one `name<TAB>value` a line). */
export function readCcacheStats(text: string): Map<string, number> {
  const stats = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [name, value] = line.split("\t");
    if (name && value !== undefined && /^\d+$/.test(value.trim())) stats.set(name.trim(), Number(value.trim()));
  }
  return stats;
}

export interface CcacheUse {
  hits: number;
  misses: number;
  /** hits / (hits + misses), null when the build compiled nothing through ccache. */
  hitRate: number | null;
}

const HIT_COUNTERS = ["direct_cache_hit", "preprocessed_cache_hit"];

/**
 * What one build got from the cache: the counters after it less those before, since the
 * cache (and its counters) are shared with the host's other builds.
 */
export function ccacheUse(before: Map<string, number>, after: Map<string, number>): CcacheUse {
  const delta = (name: string) => Math.max(0, (after.get(name) ?? 0) - (before.get(name) ?? 0));
  const hits = HIT_COUNTERS.reduce((sum, name) => sum + delta(name), 0);
  const misses = delta("cache_miss");
  return { hits, misses, hitRate: hits + misses > 0 ? hits / (hits + misses) : null };
}
