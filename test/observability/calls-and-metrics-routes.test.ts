/**
 * `GET /calls` and `GET /metrics` while a call runs over a real Media Streams socket, with the observability
 * instruments attached as `main.ts` attaches them.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { callConfig } from "../../machines/call-config.js";
import { createCallFactory } from "../../src/call-factory.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { callObserver } from "../../src/observability/call-observer.js";
import { LiveCalls, type LiveCallView } from "../../src/observability/live-calls.js";
import { buildServer, type Server } from "../../src/server.js";
import { fetchServerTranscript } from "../../tools/caller/server-transcript.js";
import { cachedPhrases, FakeStt, FakeTts, ScriptedLlm } from "../machines/call-fakes.js";
import { settle } from "../machines/call-harness.js";
import { LogCapture, testConfig } from "../support/test-server.js";
import { TwilioStreamScript } from "../support/twilio-messages.js";

const API_KEY = "calls-key-0123456789";

let server: Server | undefined;
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await server?.app.close();
  server = undefined;
});

async function startServer(env: Record<string, string>) {
  const config = testConfig(env);
  const calls = callConfig();
  const stt = new FakeStt();
  const llm = new ScriptedLlm();
  const metrics = createMetrics();
  const liveCalls = new LiveCalls({ transcripts: config.env.LOG_TRANSCRIPTS });
  const logs = new LogCapture();
  server = await buildServer({
    config,
    logger: createLogger({ level: "info", secrets: config.secrets, destination: logs }),
    metrics,
    liveCalls,
    createCall: createCallFactory({
      engines: { stt, llm, tts: new FakeTts() },
      phrases: cachedPhrases(Object.values(calls.phrases)),
      config: calls,
      instruments: [callObserver({ metrics, logTranscripts: true }), liveCalls],
    }),
  });
  const address = await server.app.listen({ port: 0, host: "127.0.0.1" });
  return { server, stt, llm, logs, address };
}

/** Opens a stream like Twilio does and returns the script and the marks the server sends. */
async function dialIn(started: Awaited<ReturnType<typeof startServer>>) {
  const ws = new WebSocket(`${started.address.replace("http", "ws")}/twilio/stream`);
  sockets.push(ws);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  const marks: string[] = [];
  ws.on("message", (data) => {
    const message = JSON.parse(data.toString()) as { event: string; mark?: { name: string } };
    if (message.event === "mark" && message.mark) marks.push(message.mark.name);
  });
  const script = new TwilioStreamScript();
  ws.send(script.connected());
  ws.send(
    script.start({
      token: started.server.context.tokens.issue(script.callSid),
      from: "+15551230001",
      to: "+15551230002",
    }),
  );
  await vi.waitFor(() => expect(marks).toHaveLength(1));
  /** Twilio played everything sent so far; resolves once the call is listening again. */
  const echoMarks = async () => {
    for (const name of marks.splice(0)) ws.send(script.mark(name));
    await vi.waitFor(() =>
      expect(started.server.context.liveCalls.list()[0]?.state).toBe("active.listening.waiting"),
    );
  };
  return { ws, script, marks, echoMarks };
}

async function listCalls(app: Server["app"], authorization?: string) {
  const response = await app.inject({
    method: "GET",
    url: "/calls",
    headers: authorization ? { authorization } : {},
  });
  return { status: response.statusCode, body: response.json() as { calls?: LiveCallView[]; error?: string } };
}

async function metricsText(app: Server["app"]): Promise<string> {
  return (await app.inject({ method: "GET", url: "/metrics" })).body;
}

/** The value of one sample line of the Prometheus text, e.g. `officero_turns_total`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("GET /calls and GET /metrics during a call", () => {
  it("lists the call in progress with its current state, behind the API key, and shows the metrics move", async () => {
    const started = await startServer({ CALLS_API_KEY: API_KEY });
    const { app } = started.server;
    const { script, marks, echoMarks, ws } = await dialIn(started);

    expect((await listCalls(app)).status).toBe(401);
    expect((await listCalls(app, "Bearer not-the-key")).status).toBe(401);
    expect((await listCalls(app, API_KEY)).status).toBe(401);
    const greeting = await listCalls(app, `Bearer ${API_KEY}`);
    expect(greeting.status).toBe(200);
    expect(greeting.body.calls).toEqual([
      {
        callSid: script.callSid,
        streamSid: script.streamSid,
        from: "+15551230001",
        to: "+15551230002",
        startedAt: expect.any(String),
        durationSeconds: expect.any(Number),
        status: "active",
        state: "active.greeting",
        turn: 0,
        transcript: [],
      },
    ]);
    // The key is a secret: scrubbed from any log line that might carry it.
    expect(started.server.context.config.secrets).toContain(API_KEY);
    expect(started.logs.raw.join("\n")).not.toContain(API_KEY);

    await echoMarks();
    started.stt.utterance("Do you fix ceiling lights?", 0, 1.2);
    await settle();
    const thinking = await listCalls(app, `bearer ${API_KEY}`);
    expect(thinking.body.calls?.map((call) => [call.state, call.turn])).toEqual([
      ["active.replying.thinking.waitingForLlm", 1],
    ]);

    started.llm.current.text("Yes, we do. When would suit you?").end();
    await vi.waitFor(() => expect(marks.length).toBeGreaterThan(0));
    await echoMarks();
    const heard = [
      { speaker: "agent", text: callConfig().phrases.greeting },
      { speaker: "caller", text: "Do you fix ceiling lights?" },
      { speaker: "agent", text: "Yes, we do. When would suit you?" },
    ];
    expect((await listCalls(app, `Bearer ${API_KEY}`)).body.calls?.[0]?.transcript).toEqual(heard);
    // What `npm run call` prints instead of "transcript: not available".
    expect(
      await fetchServerTranscript({ serverUrl: started.address, callSid: script.callSid, apiKey: API_KEY }),
    ).toEqual(heard);
    expect(
      await fetchServerTranscript({ serverUrl: started.address, callSid: script.callSid }),
    ).toBeUndefined();
    let text = await metricsText(app);
    expect(sample(text, "officero_active_calls")).toBe(1);
    expect(sample(text, "officero_turns_total")).toBe(1);
    expect(sample(text, "officero_end_of_turn_seconds_count")).toBe(1);
    expect(sample(text, "officero_llm_first_token_seconds_count")).toBe(1);
    expect(sample(text, "officero_voice_to_voice_seconds_count")).toBe(1);
    expect(sample(text, "officero_mark_round_trip_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'officero_calls_ended_total{reason="callerHungUp"}')).toBeUndefined();

    const closed = new Promise((resolve) => ws.once("close", resolve));
    ws.send(script.stop());
    await closed;
    await vi.waitFor(async () => expect((await listCalls(app, `Bearer ${API_KEY}`)).body.calls).toEqual([]));
    text = await metricsText(app);
    expect(sample(text, "officero_active_calls")).toBe(0);
    expect(sample(text, 'officero_calls_ended_total{reason="callerHungUp"}')).toBe(1);
    expect(sample(text, "officero_nodejs_eventloop_lag_p99_seconds")).toBeGreaterThanOrEqual(0);
  });

  it("answers anyone when no API key is configured", async () => {
    const started = await startServer({});
    expect(await listCalls(started.server.app)).toEqual({ status: 200, body: { calls: [] } });
    await dialIn(started);
    const { body } = await listCalls(started.server.app);
    expect(body.calls?.map((call) => call.state)).toEqual(["active.greeting"]);
  });

  it("leaves the words out when LOG_TRANSCRIPTS=false", async () => {
    const started = await startServer({ LOG_TRANSCRIPTS: "false" });
    await dialIn(started);
    const { body } = await listCalls(started.server.app);
    expect(body.calls).toHaveLength(1);
    expect(body.calls?.[0]).not.toHaveProperty("transcript");
  });
});

describe("GET /", () => {
  it("answers with the routes the server really serves and where the docs are, not a 404", async () => {
    const started = await startServer({});

    const response = await started.server.app.inject({ method: "GET", url: "/" });

    expect(response.statusCode).toBe(200);
    const body = response.json() as { routes: Record<string, string>; docs: string };
    expect(body.docs).toContain("README.md");
    const listed = Object.keys(body.routes);
    expect(listed).toContain("GET /health");
    for (const route of listed) {
      const [method, url] = route.split(" ") as ["GET" | "POST", string];
      expect(started.server.app.hasRoute({ method, url }), route).toBe(true);
    }
  });
});
