// Bundles the GitHub Action into dist/: one file per entry, ESM, all dependencies inside,
// so `uses: …/kto@v1` runs with no npm install. The output is deterministic: CI rebuilds
// it and fails when the committed bundle differs from the source.
import { build } from "esbuild";

await build({
  entryPoints: { index: "src/action/index.ts", post: "src/action/post-index.ts" },
  outdir: "dist",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  minify: true,
  legalComments: "eof",
  // CommonJS dependencies inside an ESM bundle need require, __filename and __dirname.
  banner: {
    js: [
      'import { createRequire as __ktoRequire } from "node:module";',
      'import { fileURLToPath as __ktoPath } from "node:url";',
      'import { dirname as __ktoDir } from "node:path";',
      "const require = __ktoRequire(import.meta.url);",
      "const __filename = __ktoPath(import.meta.url);",
      "const __dirname = __ktoDir(__filename);",
    ].join(" "),
  },
  // ssh2's optional native helpers: loaded in try/catch, absent here as on most runners.
  external: ["cpu-features", "*.node"],
  logLevel: "warning",
});
