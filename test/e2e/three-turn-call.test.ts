/**
 * A three-turn call on real sockets: every LLM request carries the conversation so far, exactly what the
 * caller said and what the agent's marks prove the caller heard; and the tape the server recorded of it
 * replays identically.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replayTape } from "../../src/tapes/replay.js";
import { parseTape } from "../../src/tapes/tape-format.js";
import { type CallResult, realTimeClock } from "../../tools/caller/index.js";
import { said } from "./scripted-replies.js";
import { startVoiceStack, type VoiceStack } from "./voice-stack.js";

const CALLER = [
  "Hi, I have a breaker that keeps tripping.",
  "Yes.",
  "Can someone come out tomorrow morning?",
];
const AGENT = [
  "I'm sorry to hear that. Would you like an electrician to take a look?",
  "Sure. When would suit you?",
  "Tomorrow morning works. An electrician will call to confirm.",
];

describe("a three-turn call", () => {
  const tapes = mkdtempSync(join(tmpdir(), "e2e-tapes-"));
  let stack: VoiceStack;
  let result: CallResult;
  beforeAll(async () => {
    stack = await startVoiceStack({ transcripts: CALLER, replies: AGENT.map(said), tapesDir: tapes });
    result = await stack.call(
      ["breaker-keeps-tripping.wav", "yes-speechcommands.wav", "tomorrow-morning.wav"],
      {
        clock: realTimeClock({ speed: 4 }),
      },
    );
    await stack.callsEnded(1);
  });
  afterAll(async () => {
    await stack.close();
    rmSync(tapes, { recursive: true, force: true });
  });

  it("answers every turn, then the caller hangs up", () => {
    expect(result.ended).toEqual({ by: "caller", reason: "finished" });
    expect(result.turns.map((turn) => turn.latencyMs !== null)).toEqual([true, true, true]);
    expect(result.counts.protocolErrors).toBe(0);
  });

  it("sends the LLM the whole conversation so far, turn after turn", () => {
    const system = { role: "system", content: stack.config.systemPrompt };
    // The greeting was heard (its mark came back), so it opens the history.
    const greeting = { role: "assistant", content: stack.config.phrases.greeting };
    const user = (i: number) => ({ role: "user", content: CALLER[i] });
    const agent = (i: number) => ({ role: "assistant", content: AGENT[i] });
    expect(stack.llm.chatBodies.map((body) => body.messages)).toEqual([
      [system, greeting, user(0)],
      [system, greeting, user(0), agent(0), user(1)],
      [system, greeting, user(0), agent(0), user(1), agent(1), user(2)],
    ]);
    const tools = stack.llm.chatBodies[0]?.tools as { function: { name: string } }[];
    expect(tools.map((tool) => tool.function.name)).toEqual(["end_call"]);
  });

  it("left a tape of the call that replays identically", async () => {
    const [file] = readdirSync(tapes);
    const tape = parseTape(readFileSync(join(tapes, file as string), "utf8"), "live tape");
    expect(tape.entries.at(-1)).toMatchObject({ end: "stream closed" });

    const replay = await replayTape(tape);

    expect(replay.divergence).toBeUndefined();
    expect(replay.replayedOutputs.filter((output) => output.out === "llm.request")).toHaveLength(3);
  });
});
