import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { ListingSchedule, REPOSITORY_BACKSTOP_MS } from "../../../src/app/github/listing-schedule.js";

/**
 * The listing schedule on its own: what an hour of syncs lists, whatever the number of
 * repositories, the moments the syncs come at and the events that make a repository unknown.
 */

const HOUR = 3_600_000;
const PERIOD = 60_000;

describe("the runner listing schedule", () => {
  it("lists each organisation at most once a period, and a repository only for what made it unknown, however many repositories there are", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000 }),
        // Syncs at any moments of the hour (the periodic one and those events cause), in order.
        fc.array(fc.integer({ min: 0, max: HOUR }), { minLength: 1, maxLength: 200 }).map((times) => times.sort((a, b) => a - b)),
        // Repositories made unknown (by index), at moments of the hour.
        fc.array(fc.record({ at: fc.integer({ min: 0, max: HOUR }), repo: fc.nat() }), { maxLength: 20 }),
        (repositories, syncs, unknown) => {
          let now = 0;
          const schedule = new ListingSchedule({ organizationMs: PERIOD, repositoryBackstopMs: REPOSITORY_BACKSTOP_MS }, () => now);
          const repos = Array.from({ length: repositories }, (_, i) => `org/repo-${i}`);
          let organizationListings = 0;
          let repositoryListings = 0;
          let marked = 0;
          const pending = [...unknown].sort((a, b) => a.at - b.at);
          for (const at of syncs) {
            now = at;
            while (pending.length > 0 && pending[0]!.at <= at) {
              schedule.markUnknown(repos[pending.shift()!.repo % repositories]!, "a test's event");
              marked += 1;
            }
            if (schedule.organizationDue("org")) {
              schedule.organizationListed("org");
              organizationListings += 1;
            }
            for (const repo of repos)
              if (schedule.repositoryDue(repo, () => true)) {
                schedule.repositoryListed(repo);
                repositoryListings += 1;
              }
          }
          // At most one listing per period (and the first), never per repository.
          expect(organizationListings).toBeLessThanOrEqual(Math.floor(HOUR / (PERIOD - 1_000)) + 1);
          expect(repositoryListings).toBeLessThanOrEqual(marked);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("lists a repository seen for the first time that no known runner serves, and one that known runners serve only after the backstop", () => {
    let now = 0;
    const schedule = new ListingSchedule({ organizationMs: PERIOD, repositoryBackstopMs: REPOSITORY_BACKSTOP_MS }, () => now);
    expect(schedule.repositoryDue("o/uncovered", () => false)).toBe("seen for the first time, with no runner known for it");
    expect(schedule.repositoryDue("o/covered", () => true)).toBeNull();
    now = REPOSITORY_BACKSTOP_MS - 60_000;
    expect(schedule.repositoryDue("o/covered", () => true)).toBeNull();
    now = REPOSITORY_BACKSTOP_MS;
    expect(schedule.repositoryDue("o/covered", () => true)).toBe("the backstop period is up");
  });
});
