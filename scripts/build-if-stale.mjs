/**
 * `npm start`'s build step: compile only when a source changed since the last build, and say which.
 * Plain JavaScript run by node itself, because tsx or tsc would cost seconds just to start. `tsc --incremental`
 * alone still rebuilds its whole program before it finds nothing to do (about 5 s here, against 10 s cold);
 * comparing modification times costs milliseconds.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** What the build reads: a change to any of these makes dist/ stale. */
const SOURCE_DIRS = ["src", "machines"];
const SOURCE_FILES = ["tsconfig.json", "tsconfig.build.json", "package-lock.json"];
/** Written by tsc at the end of every successful build (tsconfig.build.json's tsBuildInfoFile). */
export const BUILD_STAMP = "dist/.tsbuildinfo";

function newestIn(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a deleted file changes its directory's time
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestIn(join(path, entry)));
  return newest;
}

/** Why dist/ must be rebuilt, or null when it is up to date. */
export function staleReason(root) {
  const stamp = statSync(join(root, BUILD_STAMP), { throwIfNoEntry: false });
  if (!stamp) return "no build yet";
  const newest = Math.max(...[...SOURCE_DIRS, ...SOURCE_FILES].map((name) => newestIn(join(root, name))));
  return newest > stamp.mtimeMs ? "sources changed since the last build" : null;
}

function main() {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const reason = staleReason(root);
  if (reason === null) {
    process.stdout.write("officero-ear: build is up to date (dist/)\n");
    return;
  }
  process.stdout.write(`officero-ear: compiling TypeScript to dist/ (${reason}), about 10-30 s...\n`);
  const started = Date.now();
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
    cwd: root,
    stdio: "inherit",
  });
  if (result.status !== 0) {
    // tsc writes its build info even when it reports errors: without this the next start would call it current.
    rmSync(join(root, BUILD_STAMP), { force: true });
    process.stderr.write("officero-ear: the build failed (see the errors above); nothing was started\n");
    process.exit(result.status ?? 1);
  }
  // tsc leaves its build info untouched when no output changed (a file only touched, a branch switched back):
  // date it now, or every later start would compile again.
  const now = new Date();
  utimesSync(join(root, BUILD_STAMP), now, now);
  process.stdout.write(`officero-ear: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
