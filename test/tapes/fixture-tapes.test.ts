/**
 * Every tape under fixtures/tapes replays identically, still shows the behaviour it was recorded for, and a
 * deliberate change to a turn-taking setting makes its replay fail with a readable diff.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { replayTape } from "../../src/tapes/replay.js";
import { formatDivergence } from "../../src/tapes/tape-diff.js";
import { parseTape, type Tape } from "../../src/tapes/tape-format.js";
import { FIXTURE_SCENARIOS } from "../e2e/fixture-scenarios.js";

const TAPES = join(import.meta.dirname, "..", "..", "fixtures", "tapes");
const files = readdirSync(TAPES)
  .filter((name) => name.endsWith(".jsonl"))
  .sort();

function load(name: string): Tape {
  return parseTape(readFileSync(join(TAPES, name), "utf8"), `fixtures/tapes/${name}`);
}

describe("fixtures/tapes", () => {
  it("holds one tape per fixture scenario, and nothing else", () => {
    expect(files).toEqual(FIXTURE_SCENARIOS.map((scenario) => `${scenario.name}.jsonl`).sort());
  });

  it.each(files)("%s replays identically", async (name) => {
    const tape = load(name);
    expect(tape.truncated).toBe(false);

    const result = await replayTape(tape);

    expect(result.actorError).toBeUndefined();
    const diff =
      result.divergence &&
      formatDivergence({
        source: tape.source,
        divergence: result.divergence,
        recordedEntries: tape.entries,
        recordedOutputs: result.recordedOutputs,
        replayedOutputs: result.replayedOutputs,
        toleranceMs: result.toleranceMs,
      });
    expect(diff).toBeUndefined();
    expect(result.replayedOutputs).toHaveLength(result.recordedOutputs.length);
  });

  it.each(FIXTURE_SCENARIOS.map((scenario) => [scenario.name, scenario] as const))(
    "%s still shows what it was recorded for",
    (name, scenario) => {
      expect(scenario.check(load(`${name}.jsonl`))).toEqual([]);
    },
  );
});

describe("a deliberate change to a turn-taking setting", () => {
  it("makes the barge-in replay fail where the caller cut in, with a readable diff", async () => {
    const tape = load("barge-in.jsonl");
    const overrides = { bargeInMinWords: 4 };

    const result = await replayTape(tape, { overrides });

    expect(result.divergence?.recorded).toMatchObject({ out: "emit", event: { type: "bargeIn", heard: 1 } });
    const diff = formatDivergence({
      source: tape.source,
      divergence: result.divergence!,
      recordedEntries: tape.entries,
      recordedOutputs: result.recordedOutputs,
      replayedOutputs: result.replayedOutputs,
      toleranceMs: result.toleranceMs,
      overrides,
    });
    const lines = diff.split("\n");
    expect(lines[0]).toMatch(
      /^✗ fixtures\/tapes\/barge-in\.jsonl: the replay diverged at output \d+ of \d+ \(replayed with bargeInMinWords=4\)$/,
    );
    // Just before: the two-word interim result that cut the agent off in the recording.
    const before = lines.indexOf("  recorded:") - 1;
    expect(lines[before]).toMatch(/in {3}stt\.interim "Sorry, it's" \([0-9.]+-[0-9.]+ s\)$/);
    expect(lines[before + 2]).toMatch(
      /^ {4}- +\d+\.\d ms {2}out {2}emit bargeIn \{"turn":1,"heard":1,"sent":2,"estimatedWords":1\}$/,
    );
    expect(lines.slice(lines.indexOf("  replayed:"))).toContainEqual(
      expect.stringMatching(/^ {4}\+ +\d+\.\d ms {2}out {2}emit bargeIn/),
    );
  });

  it("makes the idle replay fail at the reprompt, which now comes earlier", async () => {
    const tape = load("idle-reprompt-then-hang-up.jsonl");

    const result = await replayTape(tape, { overrides: { idleRepromptMs: 2000 } });

    expect(result.divergence).toMatchObject({
      kind: "timing",
      recorded: { out: "timer" },
      replayed: { out: "timer" },
    });
    const earlier = (result.divergence?.recorded?.t ?? 0) - (result.divergence?.replayed?.t ?? 0);
    expect(earlier).toBeGreaterThan(450);
    expect(earlier).toBeLessThan(550);
  });

  it("makes the idle replay fail when one more reprompt is allowed", async () => {
    const tape = load("idle-reprompt-then-hang-up.jsonl");

    const result = await replayTape(tape, { overrides: { maxReprompts: 2 } });

    expect(result.divergence).toMatchObject({
      kind: "different",
      recorded: { out: "state", value: "hangingUp.sayingGoodbye" },
      replayed: { out: "state", value: "active.reprompting" },
    });
  });
});
