import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { ServerResponse } from "node:http";

/** The files the dashboard loads beside its pages: uPlot, resolved as a dependency so a packaged install finds it too. */
const ASSETS: Record<string, { module: string; type: string }> = {
  "/kto/assets/uplot.js": { module: "uplot/dist/uPlot.iife.min.js", type: "text/javascript; charset=utf-8" },
  "/kto/assets/uplot.css": { module: "uplot/dist/uPlot.min.css", type: "text/css; charset=utf-8" },
};

export const ASSET_PATHS = Object.keys(ASSETS);

const require = createRequire(import.meta.url);
const loaded = new Map<string, Promise<Buffer>>();

/** Answers with an asset, read once; a path that is not one is the caller's to refuse. */
export async function serveAsset(path: string, response: ServerResponse): Promise<void> {
  const asset = ASSETS[path]!;
  let body = loaded.get(path);
  if (!body) {
    body = readFile(require.resolve(asset.module));
    loaded.set(path, body);
    body.catch(() => loaded.delete(path));
  }
  const bytes = await body;
  response.writeHead(200, { "content-type": asset.type, "content-length": bytes.length, "cache-control": "public, max-age=86400" });
  response.end(bytes);
}
