/**
 * `npm run tapes:record [-- name...]`: records fixtures/tapes/*.jsonl afresh. Each scenario of
 * test/e2e/fixture-scenarios.ts is one real call, in real time: the real server and engine adapters against
 * the fake Deepgram, LLM, speech and Twilio REST servers, phoned by the simulated caller. A tape is written
 * only if it shows the behaviour its scenario exists for and replays identically; run it after a deliberate
 * change of the call's behaviour, then review the tapes' diff like code.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replayTape } from "../src/tapes/replay.js";
import { formatDivergence } from "../src/tapes/tape-diff.js";
import { parseTape, type Tape } from "../src/tapes/tape-format.js";
import { FIXTURE_SCENARIOS, type FixtureScenario, hangUpIntoReply } from "../test/e2e/fixture-scenarios.js";
import { startVoiceStack } from "../test/e2e/voice-stack.js";
import { realTimeClock } from "../tools/caller/index.js";

const TAPES_DIR = join(import.meta.dirname, "..", "fixtures", "tapes");
/** A recording can be unlucky (a machine too busy to keep real time); it is tried this many times. */
const ATTEMPTS = 3;

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !FIXTURE_SCENARIOS.some((scenario) => scenario.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `no scenario named ${unknown.join(", ")}; known: ${FIXTURE_SCENARIOS.map((s) => s.name).join(", ")}`,
    );
  }
  const scenarios = FIXTURE_SCENARIOS.filter((s) => wanted.length === 0 || wanted.includes(s.name));
  for (const scenario of scenarios) {
    const { text, tape } = await recordWithRetries(scenario);
    await writeFile(join(TAPES_DIR, `${scenario.name}.jsonl`), text);
    const seconds = ((tape.entries.at(-1)?.t ?? 0) / 1000).toFixed(1);
    process.stdout.write(
      `✓ ${scenario.name}.jsonl: ${tape.entries.length} lines, ${seconds} s, ${(text.length / 1024).toFixed(0)} KB\n`,
    );
  }
}

async function recordWithRetries(scenario: FixtureScenario): Promise<{ text: string; tape: Tape }> {
  const problems: string[] = [];
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const text = await record(scenario);
    const tape = parseTape(text, `${scenario.name} (attempt ${attempt})`);
    const missing = scenario.check(tape);
    const replay = await replayTape(tape);
    if (missing.length === 0 && !replay.divergence) return { text, tape };
    const why = replay.divergence
      ? formatDivergence({
          source: tape.source,
          divergence: replay.divergence,
          recordedEntries: tape.entries,
          recordedOutputs: replay.recordedOutputs,
          replayedOutputs: replay.replayedOutputs,
          toleranceMs: replay.toleranceMs,
        })
      : missing.join("; ");
    problems.push(why);
    process.stdout.write(`… ${scenario.name}: attempt ${attempt} unusable: ${why}\n`);
  }
  throw new Error(`${scenario.name}: no usable recording in ${ATTEMPTS} attempts:\n${problems.join("\n")}`);
}

/** One real call of the scenario; returns the tape the server wrote. */
async function record(scenario: FixtureScenario): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fixture-tape-"));
  const stack = await startVoiceStack({ ...scenario.stack, tapesDir: dir });
  try {
    const hangUp = hangUpIntoReply(scenario, 1);
    await stack.call(scenario.audio, {
      clock: realTimeClock(),
      callSid: fixtureSid("CA", scenario.name),
      ...scenario.caller,
      ...(hangUp ? { signal: hangUp.signal, onEvent: hangUp.onEvent } : {}),
    });
    await stack.callsEnded(1);
    const [file, ...others] = await readdir(dir);
    if (!file || others.length > 0)
      throw new Error(`expected one tape in ${dir}, found ${others.length + 1}`);
    return await readFile(join(dir, file), "utf8");
  } finally {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A stable SID per scenario, so re-recorded tapes differ only where the call did. */
function fixtureSid(prefix: "CA", name: string): string {
  return `${prefix}${Buffer.from(name).toString("hex").padEnd(32, "0").slice(0, 32)}`;
}

main().catch((error: unknown) => {
  process.stderr.write(`tapes:record: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
