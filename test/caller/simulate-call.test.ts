/**
 * The simulated caller against the real server on a real socket, with a scripted agent behind the stream.
 * Time is the fast-forward clock, so every assertion counts frames, never milliseconds of wall clock.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { mulawToPcm16 } from "../../src/audio/mulaw.js";
import { readWav } from "../../src/audio/wav.js";
import {
  type CallEvent,
  type CallerClock,
  type CallResult,
  fastForwardClock,
  formatCallReport,
  loadCallerAudio,
  type SimulateCallOptions,
  simulateCall,
} from "../../tools/caller/index.js";
import { type ListeningServer, startListeningServer } from "../support/listening-server.js";
import { type AgentScript, ScriptedAgent, toneMulaw } from "../support/scripted-agent.js";

const AUDIO = join(dirname(fileURLToPath(import.meta.url)), "../../fixtures/real/audio");
const PUBLIC_URL = "https://voice.example.com"; // what testConfig gives the server
const AUTH_TOKEN = "test-auth-token-123456";

let server: ListeningServer | undefined;
const agents: ScriptedAgent[] = [];

afterEach(async () => {
  await server?.close();
  server = undefined;
  agents.length = 0;
});

async function serve(
  script: AgentScript,
  env: Record<string, string> = {},
  extend?: (app: FastifyInstance) => void,
): Promise<ListeningServer> {
  server = await startListeningServer({
    env,
    extend,
    createCall: (start, output) => {
      const agent = new ScriptedAgent(start, output, script);
      agents.push(agent);
      return agent;
    },
  });
  return server;
}

function call(running: ListeningServer, options: Partial<SimulateCallOptions>): Promise<CallResult> {
  return simulateCall({
    url: running.url,
    publicUrl: PUBLIC_URL,
    utterances: [],
    clock: fastForwardClock(),
    // Virtual time runs far ahead of the server; a generous wait keeps a slow machine from looking silent.
    replyTimeoutMs: 600_000,
    ...options,
  });
}

const events = <T extends CallEvent["type"]>(result: CallResult, type: T) =>
  result.timeline.filter((event): event is Extract<CallEvent, { type: T }> => event.type === type);

const yes = () => loadCallerAudio(join(AUDIO, "speechcommands-yes_1000ms-8k-mulaw.wav"));
const modern = () => loadCallerAudio(join(AUDIO, "ljspeech-LJ001-0002-8k-mulaw.wav"));

describe("simulated caller against the real server", () => {
  it("is signed like Twilio: the server with TWILIO_AUTH_TOKEN accepts the webhook and the stream", async () => {
    const running = await serve({}, { TWILIO_AUTH_TOKEN: AUTH_TOKEN });
    const result = await call(running, {
      authToken: AUTH_TOKEN,
      waitForGreeting: false,
      utterances: [await yes()],
      replyTimeoutMs: 200,
    });

    expect(result.ended).toEqual({ by: "caller", reason: "finished" });
    const agent = agents[0] as ScriptedAgent;
    expect(agent.start.callSid).toBe(result.callSid);
    expect(agent.start.callSid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(agent.start.streamSid).toMatch(/^MZ[0-9a-f]{32}$/);
    expect(agent.start.accountSid).toMatch(/^AC[0-9a-f]{32}$/);
    expect(agent.start.customParameters).toEqual({ from: "+15555550123", to: "+15555550100" });
    expect(agent.stopped).toBe(1);
  });

  it("hands the TwiML's stream token back in start, bound to its CallSid", async () => {
    const running = await serve({});
    const result = await call(running, { waitForGreeting: false });

    expect(result.stream.url).toBe("wss://voice.example.com/twilio/stream");
    expect(result.stream.parameters.token).toMatch(/^\d+\./);
    expect(running.tokenChecks).toEqual([
      { token: result.stream.parameters.token, callSid: result.callSid, result: { ok: true } },
    ]);
  });

  it("sends real speech in 160-byte frames, in order, on a 20 ms grid, silence around it", async () => {
    const running = await serve({});
    const utterance = await modern();
    const wakeUps: number[] = [];
    const clock = fastForwardClock();
    const recordingClock: CallerClock = {
      now: () => clock.now(),
      sleepUntil: (at, signal) => {
        wakeUps.push(at);
        return clock.sleepUntil(at, signal);
      },
    };
    const result = await call(running, {
      clock: recordingClock,
      waitForGreeting: false,
      utterances: [utterance],
      replyTimeoutMs: 200,
    });

    const agent = agents[0] as ScriptedAgent;
    expect(agent.frames.length).toBe(result.counts.framesSent);
    expect(agent.frames.every((frame) => frame.length === 160)).toBe(true);
    const received = Buffer.concat(agent.frames);
    const frames = Math.ceil(utterance.mulaw.length / 160);
    // The utterance goes out first, its last frame padded with silence, then silence until the caller hangs up.
    expect(received.subarray(0, utterance.mulaw.length)).toEqual(Buffer.from(utterance.mulaw));
    expect(received.subarray(utterance.mulaw.length).every((byte) => byte === 0xff)).toBe(true);
    expect(result.counts.framesSent).toBeGreaterThan(frames);
    // Each wake-up is 20 ms after the previous one: the pace is fixed to the frame grid.
    const steps = new Set(wakeUps.slice(1).map((at, i) => at - (wakeUps[i] as number)));
    expect([...steps]).toEqual([20]);
    expect(result.turns).toEqual([
      {
        utterance: "ljspeech-LJ001-0002-8k-mulaw.wav",
        startedAt: 0,
        speechEndedAt: frames * 20,
        overAgent: false,
        firstAgentAudioAt: null,
        latencyMs: null,
      },
    ]);
  });

  it("echoes a mark only once the audio before it has played, and waits for it before speaking", async () => {
    const running = await serve({
      onStart: [{ audio: toneMulaw(1000) }, { mark: "greeting" }],
      afterUtterance: [[{ audio: toneMulaw(400) }, { mark: "reply-1" }]],
    });
    const result = await call(running, { utterances: [await yes()], pauseAfterReplyMs: 200 });

    const agent = agents[0] as ScriptedAgent;
    // 1 s of greeting is 50 frames of playback; 400 ms is 20. The server counts caller frames meanwhile.
    const greetingEcho = agent.markEchoes.find((echo) => echo.name === "greeting");
    expect(greetingEcho?.frame).toBeGreaterThanOrEqual(50);
    const replySent = agent.done.find((done) => "mark" in done.action && done.action.mark === "reply-1");
    const replyEcho = agent.markEchoes.find((echo) => echo.name === "reply-1");
    expect((replyEcho?.frame ?? 0) - (replySent?.frame ?? 0)).toBeGreaterThanOrEqual(20);
    // On the caller's side: received with 8000 bytes ahead, echoed exactly 50 frames of playback later.
    const [received] = events(result, "mark-received");
    const [echoed] = events(result, "mark-echoed");
    expect(received).toMatchObject({ name: "greeting", bufferedBytes: 8000 });
    expect(echoed?.frame).toBe((received?.frame ?? 0) + 50);
    // The caller spoke only after the greeting played and 200 ms (10 frames) of quiet.
    const [started] = events(result, "utterance-started");
    expect(started?.frame).toBe((echoed?.frame ?? 0) + 10);
    expect(result.turns[0]?.overAgent).toBe(false);
    expect(result.turns[0]?.latencyMs).not.toBeNull();
    expect(result.greetingLatencyMs).not.toBeNull();
    expect(result.counts).toMatchObject({ marksReceived: 2, marksEchoed: 2, clears: 0, protocolErrors: 0 });
  });

  it("counts only replies to a caller turn as its answer: a reprompt to a caller not heard is none", async () => {
    // Marks named as the server names them (t<turn>-s<segment>-g<generation>): the greeting answers turn 0;
    // after the first utterance the server speaks for turn 0 again ("Are you still there?", it heard nothing),
    // after the second it answers turn 1.
    const running = await serve({
      onStart: [{ audio: toneMulaw(200) }, { mark: "t0-s0-g1" }],
      afterUtterance: [
        [{ audio: toneMulaw(400) }, { mark: "t0-s0-g2" }],
        [{ audio: toneMulaw(400) }, { mark: "t1-s0-g3" }, { audio: toneMulaw(200) }, { mark: "t1-s1-g3" }],
      ],
    });
    const result = await call(running, { utterances: [await yes(), await yes()], pauseAfterReplyMs: 200 });

    expect(result.turns.map((turn) => turn.latencyMs === null)).toEqual([true, false]);
    expect(result.turns[0]?.firstAgentAudioAt).toBeNull();
    // The reprompt was heard and played (the caller went on after it), it just is no answer.
    expect(events(result, "mark-echoed").map((event) => event.name)).toEqual([
      "t0-s0-g1",
      "t0-s0-g2",
      "t1-s0-g3",
      "t1-s1-g3",
    ]);
    const second = result.turns[1];
    expect(second?.latencyMs).toBe((second?.firstAgentAudioAt ?? 0) - (second?.speechEndedAt ?? 0));
    // The latency table shows the first turn as unanswered ("-"), not as the reprompt's delay.
    const rows = formatCallReport(result).split("\n");
    expect(rows.find((row) => row.startsWith("1 "))).toMatch(/ -$/);
    expect(rows.find((row) => row.startsWith("2 "))).toMatch(/ \d+ ms$/);
  });

  it("on clear drops the queued audio and echoes every pending mark at once", async () => {
    // "yes" is 50 frames: the answer starts on the 51st (the first silent one) and is cleared 10 frames later.
    const running = await serve({
      afterUtterance: [
        [{ audio: toneMulaw(3000) }, { mark: "first" }, { audio: toneMulaw(1000) }, { mark: "second" }],
      ],
      atFrame: { 61: [{ clear: true }] },
    });
    const result = await call(running, {
      waitForGreeting: false,
      utterances: [await yes()],
      pauseAfterReplyMs: 100,
    });

    const clear = events(result, "clear")[0];
    expect(clear).toBeDefined();
    expect(clear?.droppedBytes).toBeGreaterThan(0);
    const echoes = events(result, "mark-echoed");
    expect(echoes.map((echo) => echo.name)).toEqual(["first", "second"]);
    expect(echoes.every((echo) => echo.frame === clear?.frame)).toBe(true);
    const agent = agents[0] as ScriptedAgent;
    expect(agent.markEchoes.map((echo) => echo.name)).toEqual(["first", "second"]);
    // Far less than the 4 s sent was played: the rest was dropped.
    expect(result.counts.agentBytesReceived).toBe(32_000);
    expect(result.counts.agentBytesPlayed + (clear?.droppedBytes ?? 0)).toBe(32_000);
    expect(result.counts.clears).toBe(1);
  });

  it("with bargeInAfterMs talks over the agent's answer that long after it started", async () => {
    const running = await serve({
      afterUtterance: [[{ audio: toneMulaw(2000) }, { mark: "reply-1" }], [{ audio: toneMulaw(200) }]],
    });
    const result = await call(running, {
      waitForGreeting: false,
      utterances: [await yes(), await yes()],
      bargeInAfterMs: 300,
      pauseAfterReplyMs: 100,
    });

    const answerStarted = events(result, "agent-audio-started")[0];
    const secondStarted = events(result, "utterance-started")[1];
    expect((secondStarted?.frame ?? 0) - (answerStarted?.frame ?? 0)).toBe(15);
    expect(result.turns[1]?.overAgent).toBe(true);
    // The unacknowledged answer was still queued, so its mark was not echoed before the second utterance.
    const echo = events(result, "mark-echoed")[0];
    expect(echo?.frame ?? 0).toBeGreaterThan(secondStarted?.frame ?? 0);
  });

  it("writes a stereo WAV of the call: caller left, agent right, one sample per byte of line time", async () => {
    const running = await serve({ afterUtterance: [[{ audio: toneMulaw(500) }]] });
    const utterance = await yes();
    const result = await call(running, {
      waitForGreeting: false,
      utterances: [utterance],
      pauseAfterReplyMs: 100,
    });

    const wav = readWav(result.recording.toStereoWav());
    expect(wav).toMatchObject({ sampleRate: 8000, channels: 2, format: "pcm16" });
    expect(wav.samples.length).toBe(result.counts.framesSent * 160 * 2);
    const left = wav.samples.filter((_, i) => i % 2 === 0);
    const right = wav.samples.filter((_, i) => i % 2 === 1);
    expect(Int16Array.from(left.subarray(0, 8000))).toEqual(mulawToPcm16(utterance.mulaw));
    const agentSamples = right.filter((sample) => sample !== 0).length;
    expect(agentSamples).toBe(4000);
    expect(result.durationMs).toBe(result.counts.framesSent * 20);
  });

  it("hangs up when hangupAfterMs is reached, mid-answer, with stop then close", async () => {
    const running = await serve({ afterUtterance: [[{ audio: toneMulaw(5000) }, { mark: "long" }]] });
    const result = await call(running, {
      waitForGreeting: false,
      utterances: [await yes()],
      hangupAfterMs: 2000,
      fetchTranscript: false,
    });

    expect(result.ended).toEqual({ by: "caller", reason: "hangup-timer" });
    expect(result.counts.framesSent).toBe(100);
    expect(result.counts.marksEchoed).toBe(0);
    const agent = agents[0] as ScriptedAgent;
    expect(agent.stopped).toBe(1);
    await expect.poll(() => agent.closed).toBe(1);
  });

  it("ends when the server closes the stream", async () => {
    const running = await serve({ atFrame: { 5: [{ hangUp: true }] } });
    const result = await call(running, { waitForGreeting: false, utterances: [await yes()] });

    expect(result.ended).toEqual({ by: "server", code: 1000, reason: "call ended" });
    expect(agents[0]?.stopped).toBe(0);
  });

  it("hangs up on abort and still reports the call", async () => {
    const running = await serve({ onStart: [{ audio: toneMulaw(60_000) }] });
    const controller = new AbortController();
    const result = await call(running, {
      signal: controller.signal,
      onEvent: (event) => event.type === "agent-audio-started" && controller.abort(),
    });

    expect(result.ended).toEqual({ by: "caller", reason: "aborted" });
    expect(agents[0]?.stopped).toBe(1);
  });

  it("reads the transcript from GET /calls while the call is up, and posts the status callback", async () => {
    const transcriptFor = (callSid: string) => ({
      calls: [
        {
          callSid,
          state: "listening",
          transcript: [
            { role: "assistant", content: "Thanks for calling!" },
            { role: "user", content: "yes" },
          ],
        },
      ],
    });
    server = await startListeningServer({
      createCall: (start, output) => {
        const agent = new ScriptedAgent(start, output, {});
        agents.push(agent);
        return agent;
      },
      // Answered ahead of whatever GET /calls the server has, with a listing that carries a transcript.
      extend: (app) =>
        app.addHook("onRequest", async (request, reply) => {
          if (request.url !== "/calls") return;
          const live = agents.find((agent) => agent.stopped === 0);
          return reply.send(transcriptFor(live?.start.callSid ?? ""));
        }),
    });
    const result = await call(server, {
      waitForGreeting: false,
      utterances: [await yes()],
      replyTimeoutMs: 100,
    });

    expect(result.transcript).toEqual([
      { speaker: "agent", text: "Thanks for calling!" },
      { speaker: "caller", text: "yes" },
    ]);
    const status = server.logs.lines.find((line) => line.msg === "call status");
    expect(status).toMatchObject({ callSid: result.callSid, callStatus: "completed" });
  });

  it("reports no transcript when the server's GET /calls has none for the call, or is refused", async () => {
    const asked: (string | undefined)[] = [];
    const running = await serve({}, { CALLS_API_KEY: "calls-key" }, (app) =>
      app.addHook("onRequest", async (request) => {
        if (request.url === "/calls") asked.push(request.headers.authorization);
      }),
    );
    const refused = await call(running, { waitForGreeting: false, replyTimeoutMs: 100 });
    expect(refused.transcript).toBeUndefined();
    const result = await call(running, {
      waitForGreeting: false,
      replyTimeoutMs: 100,
      callsApiKey: "calls-key",
    });
    expect(asked).toEqual([undefined, "Bearer calls-key"]);
    expect(result.transcript).toBeUndefined();
    expect(result.ended).toEqual({ by: "caller", reason: "finished" });
  });
});
