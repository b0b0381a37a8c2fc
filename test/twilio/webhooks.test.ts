import twilio from "twilio";
import { afterEach, describe, expect, it } from "vitest";
import type { Server } from "../../src/server.js";
import { startTestServer } from "../support/test-server.js";
import { sid } from "../support/twilio-messages.js";

const AUTH_TOKEN = "0123456789abcdef0123456789abcdef";
const PUBLIC = "https://voice.example.com";

let server: Server | undefined;
afterEach(async () => {
  await server?.app.close();
  server = undefined;
});

/** Posts a form as Twilio does, with `signature` as X-Twilio-Signature when given. */
function post(target: Server, url: string, params: Record<string, string>, signature?: string) {
  return target.app.inject({
    method: "POST",
    url,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...(signature ? { "x-twilio-signature": signature } : {}),
    },
    payload: new URLSearchParams(params).toString(),
  });
}
const sign = (url: string, params: Record<string, string>, token = AUTH_TOKEN) =>
  twilio.getExpectedTwilioSignature(token, url, params);

describe("POST /twilio/voice", () => {
  const params = { CallSid: sid("CA"), From: "+15551230000", To: "+15559870000", Direction: "inbound" };

  it("answers a correctly signed webhook with TwiML that connects the wss stream with from, to and token", async () => {
    const started = await startTestServer({ TWILIO_AUTH_TOKEN: AUTH_TOKEN });
    server = started.server;
    const response = await post(server, "/twilio/voice", params, sign(`${PUBLIC}/twilio/voice`, params));
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/text\/xml/);
    const xml = response.body;
    expect(xml).toContain('<Connect><Stream url="wss://voice.example.com/twilio/stream">');
    expect(xml).toContain('<Parameter name="from" value="+15551230000"/>');
    expect(xml).toContain('<Parameter name="to" value="+15559870000"/>');
    const token = /<Parameter name="token" value="([^"]+)"\/>/.exec(xml)?.[1];
    expect(token).toBeDefined();
    // The token is bound to this call and to nothing else.
    expect(server.context.tokens.verify(token, sid("CA"))).toEqual({ ok: false, reason: "wrong call" });
    expect(server.context.tokens.verify(token, params.CallSid)).toEqual({ ok: true });
  });

  it.each([
    ["a forged signature", sign(`${PUBLIC}/twilio/voice`, params, "another-accounts-token-000000000")],
    ["a signature over other parameters", sign(`${PUBLIC}/twilio/voice`, { ...params, From: "+1999" })],
    ["a signature over another URL", sign("https://evil.example.com/twilio/voice", params)],
    ["no signature", undefined],
  ])("answers 403 to %s and logs why", async (_name, signature) => {
    const started = await startTestServer({ TWILIO_AUTH_TOKEN: AUTH_TOKEN });
    server = started.server;
    const response = await post(server, "/twilio/voice", params, signature);
    expect(response.statusCode).toBe(403);
    expect(response.body).not.toContain("<Response>");
    expect(started.logs.messages().some((m) => m.includes("X-Twilio-Signature does not match"))).toBe(true);
    expect(started.logs.raw.join("\n")).not.toContain(AUTH_TOKEN);
    const metrics = await server.context.metrics.registry.getSingleMetricAsString(
      "officero_webhooks_rejected_total",
    );
    expect(metrics).toContain('officero_webhooks_rejected_total{route="voice"} 1');
  });

  it("logs the caller's and the dialled numbers masked, and whole only with LOG_PHONE_NUMBERS=true", async () => {
    const masked = await startTestServer();
    server = masked.server;
    await post(server, "/twilio/voice", params);
    const line = masked.logs.raw.find((raw) => raw.includes("incoming call"));
    expect(line).toContain('"from":"+•••••••••00"');
    expect(masked.logs.raw.join("\n")).not.toContain("5551230000");
    expect(masked.logs.raw.join("\n")).not.toContain("5559870000");
    await server.app.close();

    const whole = await startTestServer({ LOG_PHONE_NUMBERS: "true" });
    server = whole.server;
    await post(server, "/twilio/voice", params);
    expect(whole.logs.raw.find((raw) => raw.includes("incoming call"))).toContain('"from":"+15551230000"');
  });

  it("keeps numbers out of the status callback's log line", async () => {
    const started = await startTestServer();
    server = started.server;
    await post(server, "/twilio/status", { ...params, CallStatus: "completed", CallDuration: "42" });
    const line = started.logs.raw.find((raw) => raw.includes("call status"));
    expect(line).toContain('"callDuration":42');
    expect(line).not.toContain("5551230000");
  });

  it("accepts unsigned webhooks only when no auth token is configured", async () => {
    const started = await startTestServer();
    server = started.server;
    const response = await post(server, "/twilio/voice", params);
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain("<Stream");
  });

  it("answers 400 when the webhook has no CallSid", async () => {
    const started = await startTestServer();
    server = started.server;
    const response = await post(server, "/twilio/voice", { From: "+1555" });
    expect(response.statusCode).toBe(400);
  });

  it("checks the signature over PUBLIC_URL's path prefix and the query Twilio called", async () => {
    const started = await startTestServer({
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      PUBLIC_URL: "https://proxy.example.com/ear/",
    });
    server = started.server;
    const response = await post(
      server,
      "/twilio/voice?tenant=electric",
      params,
      sign("https://proxy.example.com/ear/twilio/voice?tenant=electric", params),
    );
    expect(response.statusCode).toBe(200);
  });
});

describe("POST /twilio/status", () => {
  const params = {
    CallSid: sid("CA"),
    From: "+1555",
    To: "+1666",
    CallStatus: "completed",
    CallDuration: "42",
  };

  it("logs the usage record of a signed callback", async () => {
    const started = await startTestServer({ TWILIO_AUTH_TOKEN: AUTH_TOKEN });
    server = started.server;
    const response = await post(server, "/twilio/status", params, sign(`${PUBLIC}/twilio/status`, params));
    expect(response.statusCode).toBe(204);
    const line = started.logs.lines.find((l) => l.msg === "call status");
    expect(line).toMatchObject({ callSid: params.CallSid, callStatus: "completed", callDuration: 42 });
  });

  it("refuses a forged callback", async () => {
    const started = await startTestServer({ TWILIO_AUTH_TOKEN: AUTH_TOKEN });
    server = started.server;
    const response = await post(server, "/twilio/status", params, "AAAA");
    expect(response.statusCode).toBe(403);
  });
});

describe("GET /health and /metrics", () => {
  it("reports ok with the engines' status, and Prometheus text", async () => {
    const started = await startTestServer({ DEEPGRAM_API_KEY: "dg-key-123456" });
    server = started.server;
    const health = await server.app.inject({ method: "GET", url: "/health" });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: "ok", activeCalls: 0 });
    expect(health.body).not.toContain("dg-key-123456");
    const metrics = await server.app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.headers["content-type"]).toMatch(/text\/plain/);
    expect(metrics.body).toContain("officero_active_calls 0");
    expect(metrics.body).toContain("officero_nodejs_eventloop_lag_seconds");
  });
});
