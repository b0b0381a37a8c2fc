/** `npm run replay`: what it prints and the exit status it returns. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runReplayCli } from "../../src/tapes/replay-cli.js";

const TAPES = join(import.meta.dirname, "..", "..", "fixtures", "tapes");
const scratch = mkdtempSync(join(tmpdir(), "replay-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function replay(...args: string[]): Promise<{ status: number; output: string }> {
  const lines: string[] = [];
  const status = await runReplayCli(args, (line) => lines.push(line));
  return { status, output: lines.join("\n") };
}

describe("npm run replay", () => {
  it("replays every tape of a directory and exits 0 when all replayed identically", async () => {
    const { status, output } = await replay(TAPES);
    expect(status).toBe(0);
    expect(output).toMatch(
      /✓ .*barge-in\.jsonl: \d+ outputs replayed identically \(\d+ inputs, \d+\.\d s of call\)/,
    );
    expect(output.split("\n").filter((line) => line.startsWith("✓"))).toHaveLength(8);
    expect(output.split("\n").at(-1)).toBe("all 8 tapes replayed identically");
  });

  it("prints the diff and exits 1 when a changed setting makes the call go differently", async () => {
    const { status, output } = await replay(join(TAPES, "barge-in.jsonl"), "--set", "bargeInMinWords=4");
    expect(status).toBe(1);
    expect(output).toMatch(
      /^✗ .*barge-in\.jsonl: the replay diverged at output \d+ of \d+ \(replayed with bargeInMinWords=4\)/,
    );
    expect(output).toContain("  recorded:\n    - ");
    expect(output).toContain("  replayed:\n    + ");
  });

  it("exits 2 for a tape it cannot read or parse, naming the file and the line", async () => {
    const missing = await replay(join(scratch, "missing.jsonl"));
    expect(missing).toEqual({
      status: 2,
      output: `✗ ${join(scratch, "missing.jsonl")}: cannot read it (ENOENT)`,
    });

    const damaged = join(scratch, "damaged.jsonl");
    writeFileSync(damaged, '{"format":"officero-ear call tape"}\n');
    const bad = await replay(damaged);
    expect(bad.status).toBe(2);
    expect(bad.output).toMatch(/^✗ .*damaged\.jsonl:1: not a tape header: /);
  });

  it("exits 2 with the usage for unusable options", async () => {
    const unknown = await replay(TAPES, "--set", "patience=3");
    expect(unknown.status).toBe(2);
    expect(unknown.output).toMatch(
      /^replay: --set patience: no such CallConfig setting \(known: systemPrompt, /,
    );
    expect(unknown.output).toContain("usage: npm run replay --");

    const invalid = await replay(join(TAPES, "barge-in.jsonl"), "--set", "idleRepromptMs=-1");
    expect(invalid.status).toBe(2);
    expect(invalid.output).toContain("idleRepromptMs must be a positive number of milliseconds (got -1)");

    expect((await replay()).status).toBe(2);
    expect((await replay(TAPES, "--tolerance-ms", "soon")).output).toMatch(/--tolerance-ms wants a number/);
  });

  it("prints the usage for --help", async () => {
    expect(await replay("--help")).toEqual({
      status: 0,
      output: expect.stringMatching(/^usage: npm run replay --/),
    });
  });
});
