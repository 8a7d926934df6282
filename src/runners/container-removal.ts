import type Docker from "dockerode";

/** How often, and how long apart, a removal the engine turned down is tried again. */
const ATTEMPTS = 5;
const PAUSE_MS = 500;

/**
 * Removes a container with its anonymous volumes, as sure as the engine lets it be: a
 * container already gone counts as removed, and one the engine is still stopping or
 * already removing ("removal in progress", a busy mount on a loaded host) is tried again,
 * so a job's container does not outlive the job because one call came at a bad moment.
 * Gives up quietly after that: the next job's sweep of orphans removes it.
 */
export async function removeContainer(container: Docker.Container, pauseMs = PAUSE_MS): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await container.remove({ force: true, v: true });
      return true;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return true;
      if (attempt >= ATTEMPTS) return false;
      await new Promise((resolve) => setTimeout(resolve, pauseMs * attempt));
    }
  }
}
