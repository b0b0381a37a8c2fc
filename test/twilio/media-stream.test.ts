import type { Socket } from "node:net";
import twilio from "twilio";
import { afterEach, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import type { Server } from "../../src/server.js";
import {
  connectStream,
  connectStreamOverTcp,
  type RecordingCall,
  startTestServer,
} from "../support/test-server.js";
import { TwilioStreamScript } from "../support/twilio-messages.js";

const AUTH_TOKEN = "0123456789abcdef0123456789abcdef";
const STREAM_URL = "wss://voice.example.com/twilio/stream";

let server: Server | undefined;
afterEach(async () => {
  await server?.app.close();
  server = undefined;
});

/** Resolves once the server has handled everything sent so far (the socket is ordered). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

async function open(env: Record<string, string> = {}) {
  const started = await startTestServer(env);
  server = started.server;
  const headers: Record<string, string> = env.TWILIO_AUTH_TOKEN
    ? { "x-twilio-signature": twilio.getExpectedTwilioSignature(AUTH_TOKEN, STREAM_URL, {}) }
    : {};
  const ws = await connectStream(server, headers);
  return { ...started, ws };
}

describe("GET /twilio/stream", () => {
  it("hands start, every media frame, marks, DTMF and stop to the call, and closes it once", async () => {
    const { ws, calls } = await open();
    const s = new TwilioStreamScript();
    ws.send(s.connected());
    ws.send(
      s.start({ from: "+15551230000", to: "+15559870000", token: server!.context.tokens.issue(s.callSid) }),
    );
    const frames = [0, 1, 2].map((n) => Uint8Array.from({ length: 160 }, (_, i) => (i + n) & 0xff));
    for (const frame of frames) ws.send(s.media(frame));
    ws.send(s.mark("t1.s0.g1"));
    ws.send(s.dtmf("5"));
    ws.send(s.stop());
    await settle();
    const [call] = calls as [RecordingCall];
    expect(call.start).toMatchObject({
      callSid: s.callSid,
      streamSid: s.streamSid,
      from: "+15551230000",
      to: "+15559870000",
    });
    // The token is for us, not for the call's logic.
    expect(call.start.customParameters).toEqual({ from: "+15551230000", to: "+15559870000" });
    expect(call.audio.map((a) => [...a])).toEqual(frames.map((f) => [...f]));
    expect(call.marks).toEqual(["t1.s0.g1"]);
    expect(call.digits).toEqual(["5"]);
    expect(call.stopped).toBe(1);
    const done = closed(ws);
    ws.terminate();
    await done;
    await settle();
    expect(call.closed).toBe(1);
    expect(server!.context.activeCalls()).toBe(0);
  });

  it("sends media as 20 ms frames, then marks and clear, all tagged with the stream SID", async () => {
    const { ws, calls } = await open();
    const s = new TwilioStreamScript();
    const received: Array<Record<string, unknown>> = [];
    ws.on("message", (data) => received.push(JSON.parse(data.toString())));
    ws.send(s.start({ token: server!.context.tokens.issue(s.callSid) }));
    await settle();
    const call = calls[0] as RecordingCall;
    call.output.sendMedia(new Uint8Array(400).fill(0x55));
    call.output.sendMark("t1.s0.g1");
    call.output.sendClear();
    await settle();
    expect(received.map((m) => m.event)).toEqual(["media", "media", "media", "mark", "clear"]);
    const sizes = received
      .filter((m) => m.event === "media")
      .map((m) => Buffer.from((m.media as { payload: string }).payload, "base64").length);
    expect(sizes).toEqual([160, 160, 80]);
    expect(received.every((m) => m.streamSid === s.streamSid)).toBe(true);
    expect(received[3]).toEqual({ event: "mark", streamSid: s.streamSid, mark: { name: "t1.s0.g1" } });
  });

  it("writes a chunk of many frames to the TCP socket in one system write, one message per frame", async () => {
    const started = await startTestServer();
    server = started.server;
    // A real socket: the in-memory one injectWS uses has no vectored write to batch into.
    const { ws, received } = await connectStreamOverTcp(server);
    const s = new TwilioStreamScript();
    ws.send(s.start({ token: server.context.tokens.issue(s.callSid) }));
    await settle();
    const call = started.calls[0] as RecordingCall;
    const [serverSide] = [...server.app.websocketServer.clients];
    const tcp = (serverSide as unknown as { _socket: Socket })._socket as unknown as Record<
      "_write" | "_writev",
      (...args: unknown[]) => void
    >;
    let writes = 0;
    for (const method of ["_write", "_writev"] as const) {
      const original = tcp[method].bind(tcp);
      tcp[method] = (...args: unknown[]) => {
        writes += 1;
        original(...args);
      };
    }

    const second = Uint8Array.from({ length: 50 * 160 }, (_, i) => i & 0xff);
    call.output.sendMedia(second);
    expect(writes).toBe(1);
    call.output.sendMedia(new Uint8Array(160).fill(0x55));
    expect(writes).toBe(2);
    await settle();

    const payloads = received.map((m) => Buffer.from((m.media as { payload: string }).payload, "base64"));
    expect(payloads.map((p) => p.length)).toEqual(Array.from({ length: 51 }, () => 160));
    expect(Buffer.concat(payloads.slice(0, 50)).equals(second)).toBe(true);
    ws.close();
  });

  it("drops every kind of bad input with a log line naming the call, and the call goes on", async () => {
    const { ws, calls, logs } = await open();
    const s = new TwilioStreamScript();
    ws.send(s.media(new Uint8Array(160))); // media before start
    ws.send(s.start({ token: server!.context.tokens.issue(s.callSid) }));
    ws.send("{this is not json");
    ws.send('{"event":"transcription","text":"hi"}');
    ws.send('{"event":"media","streamSid":"x","media":{"payload":"%%%not-base64%%%"}}');
    ws.send('{"event":"dtmf","dtmf":{"digit":"long"}}');
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    ws.send(s.start({ token: "again" }));
    ws.send(s.media(new Uint8Array(160).fill(7)));
    await settle();
    const call = calls[0] as RecordingCall;
    expect(calls).toHaveLength(1);
    expect(call.audio).toHaveLength(1);
    expect([...(call.audio[0] as Uint8Array)]).toEqual(new Array(160).fill(7));
    const warnings = logs.lines.filter((l) => String(l.msg).startsWith("dropped Twilio message"));
    expect(warnings.map((w) => w.msg)).toEqual([
      "dropped Twilio message: media before start",
      expect.stringMatching(/invalid JSON/),
      'dropped Twilio message: unknown event "transcription"',
      "dropped Twilio message: media payload is not valid base64",
      expect.stringMatching(/malformed dtmf message/),
      expect.stringMatching(/binary frame/),
      "dropped Twilio message: a second start on the same stream",
    ]);
    // After start, every line carries the call's id.
    expect(warnings.slice(1).every((w) => w.callSid === s.callSid)).toBe(true);
    const metrics = await server!.context.metrics.registry.getSingleMetricAsString(
      "officero_twilio_messages_dropped_total",
    );
    expect(metrics).toContain('reason="out_of_order"} 2');
    expect(metrics).toContain('reason="bad_audio"} 1');
  });

  it("closes a stream whose token is missing, forged or for another call without calling anyone", async () => {
    for (const token of [undefined, "123.abc", "forged"]) {
      const { ws, calls, logs } = await open();
      const s = new TwilioStreamScript();
      const done = closed(ws);
      ws.send(
        s.start(
          token === "forged" ? { token: server!.context.tokens.issue("CAother") } : token ? { token } : {},
        ),
      );
      expect((await done).code).toBe(1008);
      expect(calls).toHaveLength(0);
      expect(logs.messages()).toContain("refused media stream: it did not come through our webhook");
      await server!.app.close();
    }
    server = undefined;
  });

  it("refuses the upgrade itself with 403 when its X-Twilio-Signature is wrong", async () => {
    const started = await startTestServer({ TWILIO_AUTH_TOKEN: AUTH_TOKEN });
    server = started.server;
    await expect(connectStream(server, { "x-twilio-signature": "forged" })).rejects.toThrow(/403/);
    await expect(connectStream(server)).rejects.toThrow(/403/);
    const good = twilio.getExpectedTwilioSignature(AUTH_TOKEN, STREAM_URL, {});
    const ws = await connectStream(server, { "x-twilio-signature": good });
    expect(ws.readyState).toBe(ws.OPEN);
    ws.terminate();
  });

  it("skips the upgrade signature check when TWILIO_VALIDATE_STREAM_SIGNATURE=false, still requiring the token", async () => {
    const started = await startTestServer({
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_VALIDATE_STREAM_SIGNATURE: "false",
    });
    server = started.server;
    const ws = await connectStream(server);
    const s = new TwilioStreamScript();
    const done = closed(ws);
    ws.send(s.start({}));
    expect((await done).code).toBe(1008);
  });

  it("keeps one call's garbage away from another call on the same server", async () => {
    const { ws: bad, calls } = await open();
    const good = await connectStream(server!);
    const a = new TwilioStreamScript();
    const b = new TwilioStreamScript();
    bad.send(a.start({ token: server!.context.tokens.issue(a.callSid) }));
    good.send(b.start({ token: server!.context.tokens.issue(b.callSid) }));
    for (let i = 0; i < 50; i += 1) {
      bad.send("\u0000garbage");
      good.send(b.media(new Uint8Array(160).fill(i)));
    }
    await settle();
    const goodCall = calls.find((c) => c.start.callSid === b.callSid) as RecordingCall;
    expect(goodCall.audio).toHaveLength(50);
    expect(good.readyState).toBe(good.OPEN);
    expect(bad.readyState).toBe(bad.OPEN);
  });

  it("contains an exception thrown by the call and keeps the stream open", async () => {
    const started = await startTestServer({}, () => ({
      onAudio: () => {
        throw new Error("boom");
      },
      onMark: () => {},
      onDtmf: () => {},
      onStop: () => {},
      onClose: () => {},
    }));
    server = started.server;
    const ws = await connectStream(server);
    const s = new TwilioStreamScript();
    ws.send(s.start({ token: server.context.tokens.issue(s.callSid) }));
    ws.send(s.media(new Uint8Array(160)));
    await settle();
    expect(started.logs.messages()).toContain("error while handling a Twilio message");
    expect(ws.readyState).toBe(ws.OPEN);
  });
});
