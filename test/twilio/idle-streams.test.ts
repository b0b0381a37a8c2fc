/**
 * Streams that never start are not kept: closed at their start deadline, capped while pending, and capped
 * per source address. Real WebSockets over loopback; the deadline is a timer the test fires itself.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { Server } from "../../src/server.js";
import { startTestServer } from "../support/test-server.js";
import { TwilioStreamScript } from "../support/twilio-messages.js";

let server: Server | undefined;
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await server?.app.close();
  server = undefined;
});

/** Deadlines the test fires by hand, in order. */
class ManualTimers {
  readonly pending: Array<{ ms: number; fn: () => void; cancelled: boolean }> = [];
  schedule = (ms: number, fn: () => void) => {
    const entry = { ms, fn, cancelled: false };
    this.pending.push(entry);
    return () => {
      entry.cancelled = true;
    };
  };
  fireAll(): void {
    for (const entry of this.pending.splice(0)) if (!entry.cancelled) entry.fn();
  }
}

async function listen(env: Record<string, string>, timers = new ManualTimers()) {
  const started = await startTestServer(env, undefined, { schedule: timers.schedule });
  server = started.server;
  const url = await server.app.listen({ port: 0, host: "127.0.0.1" });
  return { ...started, timers, streamUrl: `${url.replace("http", "ws")}/twilio/stream` };
}

/** Opens a stream; resolves with the socket once open, or with the HTTP status the upgrade was refused with. */
function upgrade(url: string): Promise<WebSocket | number> {
  const ws = new WebSocket(url);
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
    ws.once("error", reject);
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once("close", (code) => resolve(code)));
}

async function openStream(url: string): Promise<WebSocket> {
  const ws = await upgrade(url);
  if (typeof ws === "number") throw new Error(`upgrade refused with ${ws}`);
  return ws;
}

/** Sends `start` with a valid token and resolves once the server has started the call. */
async function start(ws: WebSocket, target: Server, calls: { length: number }): Promise<void> {
  const before = calls.length;
  const s = new TwilioStreamScript();
  ws.send(s.connected());
  ws.send(s.start({ token: target.context.tokens.issue(s.callSid) }));
  // The call factory runs when the server handles start: wait for it, turn by turn of the event loop.
  while (calls.length === before) await new Promise((resolve) => setImmediate(resolve));
}

describe("idle media streams", () => {
  it("closes a stream that sent no start by its deadline (STREAM_START_TIMEOUT_SECONDS), and counts it", async () => {
    const { streamUrl, timers } = await listen({ STREAM_START_TIMEOUT_SECONDS: "3" });
    const ws = await openStream(streamUrl);
    ws.send(new TwilioStreamScript().connected());
    expect(timers.pending.map((t) => t.ms)).toEqual([3000]);
    const code = closed(ws);
    timers.fireAll();
    expect(await code).toBe(1008);
    const metric = await server!.context.metrics.registry.getSingleMetricAsString(
      "officero_streams_refused_total",
    );
    expect(metric).toContain('officero_streams_refused_total{reason="no start"} 1');
  });

  it("keeps a stream that started when its deadline comes", async () => {
    const { streamUrl, timers, calls } = await listen({});
    const ws = await openStream(streamUrl);
    await start(ws, server!, calls);
    timers.fireAll();
    ws.send(new TwilioStreamScript().connected());
    await new Promise((resolve) => ws.ping(undefined, undefined, resolve));
    await new Promise((resolve) => ws.once("pong", resolve));
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it("refuses upgrades past MAX_PENDING_STREAMS with 503; a stream that starts frees its place", async () => {
    const { streamUrl, calls } = await listen({ MAX_PENDING_STREAMS: "2" });
    const first = await openStream(streamUrl);
    await openStream(streamUrl);
    expect(await upgrade(streamUrl)).toBe(503);
    await start(first, server!, calls);
    expect(await upgrade(streamUrl)).toBeInstanceOf(WebSocket);
  });

  it("refuses upgrades past MAX_STREAMS_PER_SOURCE with 429, started or not", async () => {
    const { streamUrl, calls } = await listen({ MAX_STREAMS_PER_SOURCE: "2" });
    const first = await openStream(streamUrl);
    await start(first, server!, calls);
    await openStream(streamUrl);
    expect(await upgrade(streamUrl)).toBe(429);
    const metric = await server!.context.metrics.registry.getSingleMetricAsString(
      "officero_streams_refused_total",
    );
    expect(metric).toContain('officero_streams_refused_total{reason="too many streams from this source"} 1');
  });
});
