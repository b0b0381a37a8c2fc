import { getEventListeners } from "node:events";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  fastForwardClock,
  formatLoadReport,
  loadCallerAudio,
  runCalls,
  summarize,
} from "../../tools/caller/index.js";
import { type ListeningServer, startListeningServer } from "../support/listening-server.js";
import { ScriptedAgent, toneMulaw } from "../support/scripted-agent.js";

const AUDIO = join(dirname(fileURLToPath(import.meta.url)), "../../fixtures/real/audio");

let server: ListeningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("summarize (nearest-rank percentiles)", () => {
  it("gives p50/p90/p99/max of the samples", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
    expect(summarize(values)).toEqual({ count: 100, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(summarize([7])).toEqual({ count: 1, p50: 7, p90: 7, p99: 7, max: 7 });
    expect(summarize([])).toBeNull();
  });
});

describe("runCalls (the load generator)", () => {
  it("runs calls concurrently and summarizes every answered turn", async () => {
    let active = 0;
    let peak = 0;
    server = await startListeningServer({
      createCall: (start, output) => {
        active += 1;
        peak = Math.max(peak, active);
        const agent = new ScriptedAgent(start, output, {
          onStart: [{ audio: toneMulaw(200) }],
          afterUtterance: [[{ audio: toneMulaw(200) }], [{ audio: toneMulaw(200) }]],
        });
        const onClose = agent.onClose.bind(agent);
        agent.onClose = () => {
          active -= 1;
          onClose();
        };
        return agent;
      },
    });
    const no = await loadCallerAudio(join(AUDIO, "speechcommands-no_1000ms-8k-mulaw.wav"));
    const ended: number[] = [];
    const load = await runCalls({
      url: server.url,
      publicUrl: "https://voice.example.com",
      utterances: [no, no],
      clock: fastForwardClock(),
      replyTimeoutMs: 600_000,
      pauseAfterReplyMs: 100,
      concurrency: 3,
      calls: 5,
      onCallEnded: (_, index) => ended.push(index),
    });

    expect(load.failures).toBe(0);
    expect(load.outcomes).toHaveLength(5);
    expect(ended.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(3);
    expect(load.turnLatency?.count).toBe(10);
    expect(load.greetingLatency?.count).toBe(5);
    expect(load.unansweredTurns).toBe(0);
    expect(formatLoadReport(load)).toMatch(/5 calls, 5 completed, 0 failed\n/);
  });

  it("counts calls that could not be placed as failures, with the reason", async () => {
    server = await startListeningServer({
      env: { TWILIO_AUTH_TOKEN: "right" },
      createCall: (start, output) => new ScriptedAgent(start, output, {}),
    });
    const load = await runCalls({
      url: server.url,
      publicUrl: "https://voice.example.com",
      authToken: "wrong",
      utterances: [],
      clock: fastForwardClock(),
      concurrency: 2,
    });
    expect(load.failures).toBe(2);
    expect(load.turnLatency).toBeNull();
    expect(formatLoadReport(load)).toMatch(/failed x2: the server refused the webhook's signature/);
  });

  it("counts a call the server ends abnormally (1011: its call could not start) as a failure", async () => {
    server = await startListeningServer({
      createCall: () => {
        throw new Error("no calls today");
      },
    });
    const load = await runCalls({
      url: server.url,
      publicUrl: "https://voice.example.com",
      utterances: [],
      clock: fastForwardClock(),
      replyTimeoutMs: 600_000,
      concurrency: 1,
    });
    expect(load.failures).toBe(1);
    expect(load.outcomes[0]).toMatchObject({
      ok: false,
      error: expect.stringMatching(/server closed the stream: 1011/),
    });
  });

  it("hangs up every call on one abort, with one listener on the caller's signal (no MaxListenersExceededWarning)", async () => {
    const CALLS = 12;
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    const controller = new AbortController();
    let started = 0;
    let allStarted: () => void = () => {};
    const everyCallStarted = new Promise<void>((resolve) => {
      allStarted = resolve;
    });
    server = await startListeningServer({
      createCall: (start, output) => {
        started += 1;
        if (started === CALLS) allStarted();
        return new ScriptedAgent(start, output, {});
      },
    });
    const running = runCalls({
      url: server.url,
      publicUrl: "https://voice.example.com",
      utterances: [],
      clock: fastForwardClock(),
      waitForGreeting: true,
      replyTimeoutMs: 600_000,
      concurrency: CALLS,
      signal: controller.signal,
    });
    await everyCallStarted;
    const listenersWhileCalling = getEventListeners(controller.signal, "abort").length;
    controller.abort();
    const load = await running;
    // Warnings are emitted on the next tick; let them land before looking.
    await new Promise((resolve) => setImmediate(resolve));
    process.off("warning", onWarning);

    expect(listenersWhileCalling).toBe(1);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    expect(load.outcomes).toHaveLength(CALLS);
    expect(load.outcomes.map((outcome) => outcome.result?.ended)).toEqual(
      Array.from({ length: CALLS }, () => ({ by: "caller", reason: "aborted" })),
    );
    expect(warnings.filter((warning) => warning.name === "MaxListenersExceededWarning")).toEqual([]);
  });
});
