/**
 * The caller hangs up while the agent is answering, on real sockets: the call ends at once, its Deepgram
 * connection is closed within a second, the streaming LLM request is aborted and no call actor is left.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallEvent, CallResult } from "../../tools/caller/index.js";
import { realTimeClock } from "../../tools/caller/index.js";
import { said } from "./scripted-replies.js";
import { hostedFakes, startVoiceStack, type VoiceStack } from "./voice-stack.js";

const LONG_ANSWER =
  "I'm sorry to hear that. A breaker that keeps tripping usually means the circuit is overloaded. " +
  "Try unplugging a few things before you switch it back on.";

describe("the caller hangs up mid-reply", () => {
  let stack: VoiceStack;
  let result: CallResult;
  beforeAll(async () => {
    stack = await startVoiceStack({
      transcripts: ["Hi, I have a breaker that keeps tripping."],
      replies: [{ reply: said(LONG_ANSWER), timing: { timeToFirstTokenMs: 100, tokenIntervalMs: 100 } }],
    });
    // Hang up as soon as the answer starts to play.
    const hangUp = new AbortController();
    let spoke = false;
    const onEvent = (event: CallEvent) => {
      if (event.type === "utterance-ended") spoke = true;
      if (event.type === "agent-audio-started" && spoke) hangUp.abort();
    };
    result = await stack.call(["breaker-keeps-tripping.wav"], {
      clock: realTimeClock({ speed: 4 }),
      signal: hangUp.signal,
      onEvent,
    });
  });
  afterAll(() => stack.close());

  it("hung up while the answer was playing", () => {
    expect(result.ended).toEqual({ by: "caller", reason: "aborted" });
    expect(result.turns[0]?.firstAgentAudioAt).not.toBeNull();
  });

  it("closes the call's Deepgram connection within a second", async () => {
    expect(hostedFakes(stack).deepgram.connections).toHaveLength(1);
    await hostedFakes(stack).deepgram.waitFor(
      "the STT connection to close",
      () => hostedFakes(stack).deepgram.connections[0]?.closed !== undefined,
      1000,
    );
    expect(hostedFakes(stack).deepgram.connections[0]?.controls).toContain("CloseStream");
  });

  it("aborts the LLM request that was still streaming", async () => {
    expect(await stack.llm.requests[0]?.outcome).toBe("client-closed");
  });

  it("leaves no call actor running", async () => {
    await stack.callsEnded(1);
    expect(stack.actors).toHaveLength(1);
    expect(stack.actors.map((actor) => actor.getSnapshot().status)).toEqual(["done"]);
    expect(stack.actors[0]?.getSnapshot().output?.reason).toBe("callerHungUp");
    expect(stack.server.context.activeCalls()).toBe(0);
  });
});
