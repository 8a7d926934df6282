import { existsSync, readFileSync } from "node:fs";
import { startApp } from "../../app/server.js";
import { readSettings, SettingsError } from "../../app/settings.js";
import { EXIT } from "../exit-codes.js";
import { printErr, printOut } from "../terminal.js";

/** `kto app`: the GitHub App's server, until SIGTERM (drains) or a second signal (stops at once). */
export async function appCommand(options: { drain: string }): Promise<number> {
  if (existsSync(".env")) process.loadEnvFile(".env");
  let settings;
  try {
    settings = readSettings(process.env, (path) => readFileSync(path, "utf8"));
  } catch (error) {
    if (error instanceof SettingsError) {
      printErr(`kto app: cannot start:\n${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  }
  const app = await startApp(settings);
  printOut(`kto app: listening on ${app.url} (webhooks at /api/github/webhooks, read routes under /kto, health at /kto/health)\n`);
  const drainMs = Number(options.drain) * 1000;
  await new Promise<void>((resolve) => {
    let signals = 0;
    const stop = () => {
      signals += 1;
      if (signals > 1) process.exit(130);
      printOut(`kto app: draining for up to ${options.drain}s; a second signal stops at once\n`);
      void app.close(drainMs).then(resolve);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
  return EXIT.ok;
}
