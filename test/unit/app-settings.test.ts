import { describe, expect, it } from "@jest/globals";
import { apiBaseUrl, jwksUrl, readSettings, SettingsError } from "../../src/app/settings.js";
import { heldByTrustRules } from "../../src/app/trust/trust.js";

const PEM = "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n";

describe("App settings", () => {
  it("names every missing or bad setting and how to fix it", () => {
    try {
      readSettings({ APP_ID: "abc", PORT: "70000" }, () => "");
      throw new Error("expected a SettingsError");
    } catch (error) {
      expect(error).toBeInstanceOf(SettingsError);
      const message = (error as Error).message;
      expect(message).toContain("APP_ID: the numeric App ID from the App's settings page");
      expect(message).toContain("PRIVATE_KEY: not set");
      expect(message).toContain("WEBHOOK_SECRET: not set");
      expect(message).toContain("PORT: Number must be less than or equal to 65535");
      expect(message).toContain("KTO_PUBLIC_URL: not set");
    }
  });

  it("reads the key from PRIVATE_KEY_PATH and derives GHES and OIDC addresses", () => {
    const settings = readSettings(
      { APP_ID: "7", PRIVATE_KEY_PATH: "/k.pem", WEBHOOK_SECRET: "s", KTO_PUBLIC_URL: "https://kto.example.com", GHE_HOST: "ghe.example.com" },
      (path) => (path === "/k.pem" ? PEM : ""),
    );
    expect(settings.PRIVATE_KEY).toBe(PEM);
    expect(settings.PORT).toBe(3000);
    expect(apiBaseUrl(settings)).toBe("https://ghe.example.com/api/v3");
    expect(jwksUrl(settings)).toBe("https://token.actions.githubusercontent.com/.well-known/jwks");
  });

  it("talks to github.com at api.github.com, or through a proxy's URL, and refuses a proxy for GHES", () => {
    const base = { APP_ID: "7", PRIVATE_KEY: PEM, WEBHOOK_SECRET: "s", KTO_PUBLIC_URL: "https://kto.example.com" };
    expect(apiBaseUrl(readSettings(base, () => ""))).toBe("https://api.github.com");
    expect(apiBaseUrl(readSettings({ ...base, KTO_GITHUB_API_URL: "https://proxy.example.com/github/" }, () => ""))).toBe("https://proxy.example.com/github");
    expect(() => readSettings({ ...base, KTO_GITHUB_API_URL: "https://proxy.example.com", GHE_HOST: "ghe.example.com" }, () => "")).toThrow(
      "KTO_GITHUB_API_URL: set GHE_HOST for GitHub Enterprise Server or KTO_GITHUB_API_URL for github.com through a proxy, not both",
    );
  });
});

describe("trust gate", () => {
  const trust = { ok_to_test_label: "kto/ok-to-test", trusted_associations: ["OWNER", "MEMBER", "COLLABORATOR"] };
  it("lets members' branches through and holds forks and outsiders", () => {
    expect(heldByTrustRules({ authorAssociation: "MEMBER", headRepo: "o/r", baseRepo: "o/r", labels: [] }, trust)).toBeNull();
    expect(heldByTrustRules({ authorAssociation: "OWNER", headRepo: "x/r", baseRepo: "o/r", labels: [] }, trust)).toBe("it comes from the fork x/r");
    expect(heldByTrustRules({ authorAssociation: "FIRST_TIME_CONTRIBUTOR", headRepo: "o/r", baseRepo: "o/r", labels: [] }, trust)).toBe(
      "its author is first time contributor, not a trusted member",
    );
  });
});

describe("onboarding files", () => {
  it("carry self-hosted/kto-runner.yml as it is", async () => {
    const { readFile } = await import("node:fs/promises");
    const { RUNNER_WORKFLOW } = await import("../../src/app/webhooks/onboarding-files.js");
    expect(RUNNER_WORKFLOW).toBe(await readFile(new URL("../../self-hosted/kto-runner.yml", import.meta.url), "utf8"));
  });
});
