import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { benchUsage, parseBenchArgs } from "../../bench/command-line.js";

const SECTIONS = [
  { name: "audio", duration: "10 s" },
  { name: "turn", duration: "1.5 min" },
];

describe("npm run bench arguments", () => {
  it("--help and -h ask for the usage, whatever else is given", () => {
    expect(parseBenchArgs(["--help"], SECTIONS)).toEqual({ kind: "help" });
    expect(parseBenchArgs(["--only", "turn", "-h"], SECTIONS)).toEqual({ kind: "help" });
  });

  it("no arguments run every section; --only runs the named ones in their order", () => {
    expect(parseBenchArgs([], SECTIONS)).toEqual({ kind: "run", names: ["audio", "turn"] });
    expect(parseBenchArgs(["--only", "turn,audio"], SECTIONS)).toEqual({
      kind: "run",
      names: ["audio", "turn"],
    });
  });

  it("an unknown section or argument is a mistake, not a full run", () => {
    expect(parseBenchArgs(["--only", "nope"], SECTIONS).kind).toBe("mistake");
    expect(parseBenchArgs(["--only"], SECTIONS).kind).toBe("mistake");
    expect(parseBenchArgs(["--verbose"], SECTIONS)).toEqual({
      kind: "mistake",
      message: 'unknown argument "--verbose"',
    });
  });

  it("the usage lists every section", () => {
    const usage = benchUsage(SECTIONS);
    expect(usage).toContain("--only");
    expect(usage).toMatch(/audio\s+about 10 s/);
    expect(usage).toMatch(/turn\s+about 1\.5 min/);
  });

  it("bench/run.ts --help prints the usage and exits without running a section", () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", "--help"], {
      encoding: "utf8",
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("Usage: npm run bench");
    expect(run.stdout).not.toContain("[bench]");
  });
});
