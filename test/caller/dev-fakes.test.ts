/**
 * `npm run dev:fakes` with the real server and the real call actor: the simulated caller says the
 * scenario's lines, the agent answers like a receptionist and ends the call with end_call after goodbye.
 */
import { afterEach, describe, expect, it } from "vitest";
import { callConfig } from "../../machines/call-config.js";
import { CALLER_LINES, type DevFakes, receptionistReply, startDevFakes } from "../../scripts/dev-fakes.js";
import { createCallFactory } from "../../src/call-factory.js";
import { createEngines } from "../../src/engines/create-engines.js";
import type { Log } from "../../src/logger.js";
import { fastForwardClock, loadCallerAudio, simulateCall } from "../../tools/caller/index.js";
import { type ListeningServer, startListeningServer } from "../support/listening-server.js";
import { testConfig } from "../support/test-server.js";

describe("receptionistReply (the fake LLM's canned answers)", () => {
  const body = (said: string, tools = [{ type: "function", function: { name: "end_call" } }]) => ({
    messages: [
      { role: "system", content: "You are a receptionist" },
      { role: "user", content: said },
    ],
    tools,
  });
  const text = (reply: ReturnType<typeof receptionistReply>) =>
    reply.type === "text" ? reply.tokens.join("") : "";

  it("answers each scenario line in turn", () => {
    expect(text(receptionistReply(body(CALLER_LINES[0])))).toMatch(/breaker that keeps tripping/);
    expect(text(receptionistReply(body(CALLER_LINES[1])))).toMatch(/name and address/);
    expect(text(receptionistReply(body(CALLER_LINES[2])))).toMatch(/electrician will call you/);
  });

  it("calls end_call on goodbye when it is offered, and says goodbye when it is not", () => {
    expect(receptionistReply(body(CALLER_LINES[3]))).toEqual({
      type: "toolCalls",
      calls: [{ name: "end_call", arguments: "{}" }],
    });
    expect(text(receptionistReply(body("ok goodbye", [])))).toMatch(/goodbye/i);
  });

  it("asks for more on anything else, streamed word by word", () => {
    const reply = receptionistReply(body("the weather is nice"));
    expect(reply.type === "text" && reply.tokens.length).toBeGreaterThan(5);
    expect(text(reply)).toMatch(/tell me a little more/);
  });
});

describe("dev:fakes with the real server", () => {
  let fakes: DevFakes | undefined;
  let server: ListeningServer | undefined;
  afterEach(async () => {
    await server?.close();
    await fakes?.close();
  });

  // The caller runs on virtual time and the test waits for the call to end, so nothing here is a budget:
  // the test's own timeout and the server's timers are deadlock guards, generous so a saturated machine
  // (two busy cores: 8 s for what takes 3 s idle) never reaches them.
  const DEADLOCK_GUARD_MS = 120_000;

  it.each(["hosted", "self-hosted"] as const)(
    "gives a simulated call receptionist answers and ends it with end_call (%s profile)",
    { timeout: DEADLOCK_GUARD_MS },
    async (profile) => {
      fakes = await startDevFakes({
        profile,
        basePort: 0,
        llmFirstTokenMs: 0,
        llmTokenMs: 0,
        speechFirstByteMs: 0,
        voice: "tones",
      });
      const config = testConfig({ ...fakes.serverEnv, LOG_LEVEL: "silent" });
      const settings = callConfig({
        systemPrompt: config.env.SYSTEM_PROMPT,
        transferNumber: null,
        // A starved event loop must not look like a silent caller or a dead engine and change the call.
        idleRepromptMs: DEADLOCK_GUARD_MS,
        llmFirstTokenTimeoutMs: DEADLOCK_GUARD_MS,
        ttsTimeoutMs: DEADLOCK_GUARD_MS,
        replySilenceTimeoutMs: 2 * DEADLOCK_GUARD_MS,
      });
      const silent = quietLog();
      const engines = createEngines(config.env, Object.values(settings.phrases), silent);
      await engines.ready;
      server = await startListeningServer({
        env: fakes.serverEnv,
        createCall: createCallFactory({ engines, phrases: engines.phrases, config: settings }),
      });
      const utterances = await Promise.all(fakes.callerFiles.map((file) => loadCallerAudio(file)));

      const result = await simulateCall({
        url: server.url,
        publicUrl: "https://voice.example.com",
        authToken: fakes.serverEnv.TWILIO_AUTH_TOKEN,
        utterances,
        clock: fastForwardClock(),
        replyTimeoutMs: 600_000,
        // Virtual time outruns the server: a long pause lets it hang up after its goodbye before the caller does.
        pauseAfterReplyMs: 60_000,
      });

      // The agent ended the call itself (end_call, then the stream closed for want of REST credentials).
      expect(result.ended).toEqual({ by: "server", code: 1000, reason: "call ended" });
      expect(result.greetingLatencyMs).not.toBeNull();
      expect(result.turns.map((turn) => turn.latencyMs !== null)).toEqual([true, true, true, true]);
      const userTurns = fakes.llm.chatBodies.map((chat) =>
        (chat.messages as { role: string; content: string }[])
          .filter((m) => m.role === "user")
          .map((m) => m.content),
      );
      // Each request carries the whole conversation so far; the last one ends with the goodbye.
      expect(userTurns).toEqual([1, 2, 3, 4].map((count) => CALLER_LINES.slice(0, count)));
      const spoken = fakes.spoken.join(" ");
      expect(spoken).toMatch(/breaker that keeps tripping usually means/);
      if (profile === "self-hosted") {
        // Whisper's uploads went to the fake transcription server, the voice came from the fake Piper.
        expect(fakes.whisper?.uploads.length).toBeGreaterThanOrEqual(CALLER_LINES.length);
        expect(fakes.piper?.requests.length).toBeGreaterThan(0);
      }
    },
  );
});

function quietLog(): Log {
  const noop = () => {};
  const log = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop, level: "silent" };
  return { ...log, child: () => log } as unknown as Log;
}
