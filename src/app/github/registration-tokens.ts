import type { OctokitFor } from "./github-api.js";

/**
 * A token is replaced this long before it expires, so that a host handed it has time to
 * run config.sh with it.
 */
export const TOKEN_RENEW_BEFORE_MS = 10 * 60_000;

/** A runner registration token: for one repository or organisation, valid an hour. */
export interface RunnerRegistrationToken {
  token: string;
  expiresAt: number;
}

/** Where runners register: a repository (owner/name) or an organisation. */
export type RegistrationHome = { repository: string } | { organization: string };

export function homeKey(home: RegistrationHome): string {
  return "repository" in home ? home.repository.toLowerCase() : `org:${home.organization.toLowerCase()}`;
}

/**
 * Registration tokens, one per repository or organisation, asked of GitHub when there is
 * none or the one there is expires within TOKEN_RENEW_BEFORE_MS: a content-creating
 * request per home about once an hour, however many runners register there. Held in this
 * replica's memory only: a credential kept out of the store, at the price of one request
 * per replica an hour. Hosts that ask at once share one request.
 */
export class RegistrationTokens {
  private readonly byHome = new Map<string, Promise<RunnerRegistrationToken>>();

  constructor(
    private readonly octokitFor: OctokitFor,
    private readonly now: () => number,
  ) {}

  async tokenFor(home: RegistrationHome, installationId: number): Promise<RunnerRegistrationToken> {
    const key = `${installationId}:${homeKey(home)}`;
    const held = this.byHome.get(key);
    if (held) {
      const token = await held.catch(() => null);
      if (token && token.expiresAt - this.now() > TOKEN_RENEW_BEFORE_MS) return token;
      if (this.byHome.get(key) !== held) return this.tokenFor(home, installationId);
    }
    const asked = this.ask(home, installationId);
    this.byHome.set(key, asked);
    // A failed request leaves no token behind: the next registration asks again.
    asked.catch(() => {
      if (this.byHome.get(key) === asked) this.byHome.delete(key);
    });
    return asked;
  }

  private async ask(home: RegistrationHome, installationId: number): Promise<RunnerRegistrationToken> {
    const octokit = await this.octokitFor(installationId);
    const { data } =
      "repository" in home
        ? await octokit.rest.actions.createRegistrationTokenForRepo({
            owner: home.repository.slice(0, home.repository.indexOf("/")),
            repo: home.repository.slice(home.repository.indexOf("/") + 1),
          })
        : await octokit.rest.actions.createRegistrationTokenForOrg({ org: home.organization });
    return { token: data.token, expiresAt: Date.parse(data.expires_at) };
  }
}
