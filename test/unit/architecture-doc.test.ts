import { describe, expect, it } from "@jest/globals";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PROJECT_ROOT_URL } from "../helpers/project-root.js";

const ROOT = fileURLToPath(PROJECT_ROOT_URL);
const ARCHITECTURE = join(ROOT, "docs/architecture.md");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : /\.(ts|sh|yml|yaml|service)$/.test(name) ? [path] : [];
  });
}

/** Every word kto's code is made of: identifiers and the string literals its tables and routes are named by. */
function codeWords(): Set<string> {
  const words = new Set<string>();
  for (const file of [...sourceFiles(join(ROOT, "src")), ...sourceFiles(join(ROOT, "self-hosted"))]) {
    for (const word of readFileSync(file, "utf8").match(/[A-Za-z_][A-Za-z0-9_-]*/g) ?? []) words.add(word);
  }
  return words;
}

/** The glossary's rows: the word, and the names the "in the code" column gives for it. */
function glossary(text: string): { word: string; names: string[] }[] {
  const section = text.slice(text.indexOf("## Glossary"));
  return section
    .split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| word") && !line.startsWith("| ---"))
    .map((line) => {
      const cells = line.split(/(?<!\\)\|/).map((cell) => cell.trim());
      const inCode = cells[3] ?? "";
      return { word: cells[1] ?? "", names: [...inCode.matchAll(/`([^`]+)`/g)].map((m) => m[1]!) };
    });
}

describe("docs/architecture.md", () => {
  const text = readFileSync(ARCHITECTURE, "utf8");

  it("has a glossary whose every name is a name in the code today", () => {
    const words = codeWords();
    const rows = glossary(text);
    expect(rows.length).toBeGreaterThan(30);
    const unknown = rows.flatMap(({ word, names }) =>
      names
        // A path names a file or folder that is there.
        .filter((name) => !name.includes("/") || !existsSync(join(ROOT, name)))
        .map((name) => (name.includes("/") ? `missing:${name}` : name))
        // `table jobs`, `OrchestratorService.recordRunEvent`, `kto host`: each part must be in the code.
        .flatMap((name) => name.replace(/^table /, "").split(/[.\s]|\\\|/))
        .map((part) => part.replace(/\(.*$/, "").replace(/[<:].*$/, ""))
        .filter((part) => part.startsWith("missing:") || (/^[A-Za-z_]/.test(part) && !words.has(part)))
        .map((part) => `${word}: ${part}`),
    );
    expect(unknown).toEqual([]);
  });

  it("names one meaning per word: no word has two rows", () => {
    const words = glossary(text).map((row) => row.word);
    expect(words.filter((word, i) => words.indexOf(word) !== i)).toEqual([]);
  });

  it("points to nothing outside the repository, and every file it links to exists", () => {
    const links = [...text.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)].map((m) => m[1]!).filter((target) => !/^[a-z]+:/.test(target));
    expect(links.length).toBeGreaterThan(0);
    const broken = links.filter((target) => {
      const path = resolve(dirname(ARCHITECTURE), target);
      return relative(ROOT, path).startsWith("..") || !existsSync(path);
    });
    expect(broken).toEqual([]);
    const paths = [...text.matchAll(/`((?:src|test|self-hosted|scripts|bench|docs)\/[^`\s]+\.(?:ts|mjs|sh|yml|md))`/g)].map((m) => m[1]!);
    expect(paths.filter((path) => !existsSync(join(ROOT, path)))).toEqual([]);
  });
});
