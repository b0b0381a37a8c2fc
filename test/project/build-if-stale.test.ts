import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script (run by node before anything is compiled), without type declarations
import { BUILD_STAMP, staleReason } from "../../scripts/build-if-stale.mjs";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A checkout in miniature, every file dated `at` (seconds since the epoch). */
function checkout(at: number): string {
  const root = mkdtempSync(join(tmpdir(), "build-if-stale-"));
  roots.push(root);
  for (const dir of ["src/engines", "machines", "dist"]) mkdirSync(join(root, dir), { recursive: true });
  for (const file of ["src/main.ts", "src/engines/kokoro.ts", "machines/call.machine.ts", "tsconfig.json"]) {
    writeFileSync(join(root, file), "");
    utimesSync(join(root, file), at, at);
  }
  for (const dir of ["src/engines", "src", "machines"]) utimesSync(join(root, dir), at, at);
  return root;
}

function stamp(root: string, at: number): void {
  writeFileSync(join(root, BUILD_STAMP), "{}");
  utimesSync(join(root, BUILD_STAMP), at, at);
}

describe("npm start's build step", () => {
  it("builds a checkout that was never built", () => {
    expect(staleReason(checkout(1_000))).toBe("no build yet");
  });

  it("skips the build when nothing changed since it", () => {
    const root = checkout(1_000);
    stamp(root, 2_000);
    expect(staleReason(root)).toBeNull();
  });

  it("rebuilds when a nested source, a machine or the compiler settings changed", () => {
    for (const changed of ["src/engines/kokoro.ts", "machines/call.machine.ts", "tsconfig.json"]) {
      const root = checkout(1_000);
      stamp(root, 2_000);
      utimesSync(join(root, changed), 3_000, 3_000);
      expect(staleReason(root)).toBe("sources changed since the last build");
    }
  });

  it("rebuilds when a source file was deleted (its folder changed)", () => {
    const root = checkout(1_000);
    stamp(root, 2_000);
    utimesSync(join(root, "src/engines"), 3_000, 3_000);
    expect(staleReason(root)).toBe("sources changed since the last build");
  });
});
