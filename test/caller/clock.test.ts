import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { fastForwardClock, loadCallerAudio, realTimeClock, simulateCall } from "../../tools/caller/index.js";
import { type ListeningServer, startListeningServer } from "../support/listening-server.js";
import { ScriptedAgent, toneMulaw } from "../support/scripted-agent.js";

const AUDIO = join(dirname(fileURLToPath(import.meta.url)), "../../fixtures/real/audio");

describe("caller clocks", () => {
  it("realTimeClock never wakes before the time asked for, and wakes early on abort", async () => {
    const clock = realTimeClock({ speed: 10 });
    for (let i = 0; i < 5; i++) {
      const target = clock.now() + 37;
      await clock.sleepUntil(target);
      expect(clock.now()).toBeGreaterThanOrEqual(target);
    }
    const controller = new AbortController();
    const far = clock.sleepUntil(clock.now() + 10_000_000, controller.signal);
    controller.abort();
    await expect(far).resolves.toBeUndefined();
  });

  it("realTimeClock refuses a speed that is not a positive number", () => {
    for (const speed of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => realTimeClock({ speed })).toThrow(/positive number/);
    }
  });

  it("fastForwardClock jumps to each wake-up time and never goes back", async () => {
    const clock = fastForwardClock();
    expect(clock.now()).toBe(0);
    await clock.sleepUntil(40);
    expect(clock.now()).toBe(40);
    await clock.sleepUntil(20);
    expect(clock.now()).toBe(40);
  });
});

describe("a call on the real clock", () => {
  let server: ListeningServer | undefined;
  afterEach(() => server?.close());

  it("sends and plays the same frames as on virtual time (sped up 20x)", async () => {
    const agents: ScriptedAgent[] = [];
    server = await startListeningServer({
      createCall: (start, output) => {
        const agent = new ScriptedAgent(start, output, {
          onStart: [{ audio: toneMulaw(300) }, { mark: "hello" }],
          afterUtterance: [[{ audio: toneMulaw(300) }, { mark: "answer" }]],
        });
        agents.push(agent);
        return agent;
      },
    });
    const utterance = await loadCallerAudio(join(AUDIO, "speechcommands-no_1000ms-8k-mulaw.wav"));
    const result = await simulateCall({
      url: server.url,
      publicUrl: "https://voice.example.com",
      utterances: [utterance],
      clock: realTimeClock({ speed: 20 }),
      replyTimeoutMs: 60_000,
      pauseAfterReplyMs: 200,
    });

    expect(result.ended).toEqual({ by: "caller", reason: "finished" });
    expect(agents[0]?.frames.length).toBe(result.counts.framesSent);
    // Only after the greeting's 300 ms (15 frames) had played did the utterance go out, whole and in order. (The
    // pause after it is wall-clock time here: a machine that stalls may catch up several frames at once.)
    const received = Buffer.concat(agents[0]?.frames ?? []);
    expect(received.indexOf(Buffer.from(utterance.mulaw))).toBeGreaterThanOrEqual(15 * 160);
    expect(agents[0]?.markEchoes.map((echo) => echo.name)).toEqual(["hello", "answer"]);
    expect(result.counts).toMatchObject({ agentBytesReceived: 4800, agentBytesPlayed: 4800, marksEchoed: 2 });
    expect(result.turns[0]?.latencyMs).toBeGreaterThanOrEqual(0);
  });
});
