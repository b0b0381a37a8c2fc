/**
 * The caller talks over a long answer, on real sockets: the agent clears Twilio's buffer, aborts the LLM
 * request still streaming and the TTS request still synthesizing, and its next LLM request holds only the
 * sentence the caller heard, marked as cut off.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INTERRUPTED_NOTE } from "../../src/engines/llm/chat-messages.js";
import { type CallResult, realTimeClock } from "../../tools/caller/index.js";
import type { FakeLlmReply } from "../fakes/fake-openai-llm.js";
import { said } from "./scripted-replies.js";
import { hostedFakes, startVoiceStack, type VoiceStack } from "./voice-stack.js";

const BREAKER = "Hi, I have a breaker that keeps tripping.";
const KITCHEN = "Sorry, it's actually the kitchen breaker.";
const HEARD = "I'm sorry to hear that.";
/**
 * A long answer: three sentences come at once, then the rest word by word, slowly. The first is heard, the
 * caller cuts in during the second, the third is never synthesized (the fake speech server holds it), and
 * the LLM is still streaming the tail.
 */
const LONG_ANSWER: FakeLlmReply = {
  type: "text",
  tokens: [
    `${HEARD} `,
    "A breaker that keeps tripping usually means the circuit is overloaded. ",
    "Try unplugging a few things before you switch it back on. ",
    ..."If it trips again, we can send an electrician to check the wiring.".split(/(?<= )/),
  ],
};

describe("a barge-in", () => {
  let stack: VoiceStack;
  let result: CallResult;
  beforeAll(async () => {
    stack = await startVoiceStack({
      transcripts: [BREAKER, KITCHEN],
      replies: [
        { reply: LONG_ANSWER, timing: { timeToFirstTokenMs: 200, tokenIntervalMs: 250 } },
        said("I see."),
      ],
      holdSpeech: (text) => text.startsWith("Try unplugging"),
      agentMsPerChar: 40,
    });
    result = await stack.call(["breaker-keeps-tripping.wav", "kitchen-breaker.wav"], {
      clock: realTimeClock({ speed: 2 }),
      bargeInAfterMs: 1200,
    });
    await stack.callsEnded(1);
  });
  afterAll(() => stack.close());

  it("clears what the caller had not heard yet", () => {
    expect(result.turns[1]?.overAgent).toBe(true);
    expect(result.counts.clears).toBe(1);
  });

  it("aborts the LLM request that was still streaming", async () => {
    expect(stack.llm.requests).toHaveLength(2);
    expect(await stack.llm.requests[0]?.outcome).toBe("client-closed");
    expect(await stack.llm.requests[1]?.outcome).toBe("completed");
  });

  it("aborts the TTS request that was still synthesizing", async () => {
    const held = hostedFakes(stack).speech.requests.filter((request) =>
      (request.body as { input: string }).input.startsWith("Try unplugging"),
    );
    expect(held).toHaveLength(1);
    expect(await held[0]?.closed).toEqual({ closedByClient: true });
  });

  it("asks the LLM next with only what the caller heard, marked as interrupted", () => {
    const messages = (stack.llm.chatBodies[1]?.messages ?? []) as { content: string }[];
    expect(messages).toEqual([
      { role: "system", content: stack.config.systemPrompt },
      { role: "assistant", content: stack.config.phrases.greeting },
      { role: "user", content: BREAKER },
      { role: "assistant", content: expect.stringContaining(`… ${INTERRUPTED_NOTE}`) },
      { role: "user", content: KITCHEN },
    ]);
    // The first sentence's mark proves it; of the second, cut 200 ms of real time in, the words estimated
    // to have played (how many depends on the host's timing, so only the prefix is pinned).
    const heard = (messages[3]?.content ?? "").replace(`… ${INTERRUPTED_NOTE}`, "");
    expect(heard.startsWith(HEARD)).toBe(true);
    const second = LONG_ANSWER.type === "text" ? (LONG_ANSWER.tokens[1] ?? "") : "";
    const rest = heard.slice(HEARD.length).trim();
    expect(rest === "" || `${second.trim()} `.startsWith(`${rest} `)).toBe(true);
  });
});
