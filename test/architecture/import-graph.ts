/**
 * The repository's import graph as the source says it: every module specifier of every script file in the
 * code folders, read with the TypeScript scanner (`ts.preProcessFile`), which sees `import ... from`,
 * `import "..."`, `export ... from`, `import("...")` and `require("...")` (type-only imports included) without
 * type-checking anything. Relative specifiers are resolved to repository paths, `.js` to the `.ts` file
 * that NodeNext resolution compiles it from.
 */
import { readdirSync, readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { posix } from "node:path";
import ts from "typescript";

/** One specifier in one file, both as written; `from` is a repository path with forward slashes. */
export interface ImportEdge {
  from: string;
  specifier: string;
}

export interface ImportGraph {
  /** Every scanned file, as repository paths: relative specifiers resolve against these. */
  files: readonly string[];
  imports: readonly ImportEdge[];
}

/** What a specifier names: a file of the repository (existing or not), an npm package, or a Node built-in. */
export type ImportTarget =
  | { kind: "file"; path: string }
  | { kind: "package"; name: string }
  | { kind: "builtin"; name: string };

const SCRIPT_FILE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** The specifiers of one file's source, in order of appearance. */
export function importSpecifiers(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  return info.importedFiles.map((file) => file.fileName);
}

/** Reads every script file under `folders` of the repository at `root`. */
export function readImportGraph(root: string, folders: readonly string[]): ImportGraph {
  const files = folders.flatMap((folder) =>
    readdirSync(posix.join(root, folder), { recursive: true, encoding: "utf8" })
      .filter((name) => SCRIPT_FILE.test(name))
      .map((name) => posix.join(folder, name)),
  );
  const imports = files.flatMap((from) =>
    importSpecifiers(readFileSync(posix.join(root, from), "utf8")).map((specifier) => ({ from, specifier })),
  );
  return { files, imports };
}

export function resolveImport(edge: ImportEdge, files: ReadonlySet<string>): ImportTarget {
  const { from, specifier } = edge;
  if (specifier.startsWith("./") || specifier.startsWith("../")) {
    const path = posix.normalize(posix.join(posix.dirname(from), specifier));
    const source = path
      .replace(/\.js$/, ".ts")
      .replace(/\.mjs$/, ".mts")
      .replace(/\.cjs$/, ".cts");
    return { kind: "file", path: !files.has(path) && files.has(source) ? source : path };
  }
  if (isBuiltin(specifier)) return { kind: "builtin", name: specifier };
  const segments = specifier.split("/");
  const name = specifier.startsWith("@") ? segments.slice(0, 2).join("/") : (segments[0] ?? specifier);
  return { kind: "package", name };
}
