// Starts the PostgreSQL the store's contract tests need, unless one is given.
import { execFileSync } from "node:child_process";

export default function globalSetup() {
  if (process.env.KTO_TEST_DATABASE_URL) return;
  const script = new URL("../../scripts/test-postgres.sh", import.meta.url).pathname;
  process.env.KTO_TEST_DATABASE_URL = execFileSync("bash", [script], { encoding: "utf8" }).trim();
}
