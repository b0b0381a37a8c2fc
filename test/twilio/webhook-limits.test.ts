/**
 * Webhooks are refused before any parsing or signature work when they cannot be Twilio's: too large, too
 * many parameters, or too many from one source. Driven through the real Fastify stack (inject, and a real
 * loopback socket for the Content-Length check).
 */
import { connect } from "node:net";
import twilio from "twilio";
import { afterEach, describe, expect, it } from "vitest";
import type { Server } from "../../src/server.js";
import { WEBHOOK_MAX_PARAMETERS } from "../../src/twilio/webhook-limits.js";
import { startTestServer } from "../support/test-server.js";
import { sid } from "../support/twilio-messages.js";

const AUTH_TOKEN = "0123456789abcdef0123456789abcdef";
const VOICE_URL = "https://voice.example.com/twilio/voice";

let server: Server | undefined;
afterEach(async () => {
  await server?.app.close();
  server = undefined;
});

function post(
  target: Server,
  payload: string,
  options: { signature?: string; remoteAddress?: string; forwardedFor?: string; url?: string } = {},
) {
  return target.app.inject({
    method: "POST",
    url: options.url ?? "/twilio/voice",
    remoteAddress: options.remoteAddress ?? "127.0.0.1",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...(options.signature ? { "x-twilio-signature": options.signature } : {}),
      ...(options.forwardedFor ? { "x-forwarded-for": options.forwardedFor } : {}),
    },
    payload,
  });
}

async function refusals(target: Server): Promise<string> {
  return target.context.metrics.registry.getSingleMetricAsString("officero_webhooks_refused_total");
}

/** A realistic voice webhook: Twilio's usual parameters, plus as many SIP headers as asked. */
function voiceParams(sipHeaders = 0): Record<string, string> {
  const params: Record<string, string> = {
    AccountSid: sid("AC"),
    ApiVersion: "2010-04-01",
    CallSid: sid("CA"),
    CallStatus: "ringing",
    CallToken: "x".repeat(2000),
    Called: "+15559870000",
    Caller: "+15551230000",
    Direction: "inbound",
    From: "+15551230000",
    FromCity: "SPRINGFIELD",
    FromCountry: "US",
    FromState: "IL",
    FromZip: "62701",
    To: "+15559870000",
    ToCity: "CHICAGO",
    ToCountry: "US",
    ToState: "IL",
    ToZip: "60601",
    StirVerstat: "TN-Validation-Passed-A",
  };
  for (let i = 0; i < sipHeaders; i += 1) params[`SipHeader_X-Custom-${i}`] = `value-${i}`;
  return params;
}

describe("webhook limits", () => {
  it("answers a realistic signed webhook (with many SIP headers) as before", async () => {
    server = (await startTestServer({ TWILIO_AUTH_TOKEN: AUTH_TOKEN })).server;
    const params = voiceParams(100);
    const response = await post(server, new URLSearchParams(params).toString(), {
      signature: twilio.getExpectedTwilioSignature(AUTH_TOKEN, VOICE_URL, params),
    });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain("<Stream");
  });

  it("refuses a body of tens of KB over the limit with 413, before the signature is checked", async () => {
    const started = await startTestServer({ TWILIO_AUTH_TOKEN: AUTH_TOKEN });
    server = started.server;
    const response = await post(server, `CallSid=${sid("CA")}&Pad=${"a".repeat(100_000)}`, {
      signature: "AAAA",
    });
    expect(response.statusCode).toBe(413);
    expect(await refusals(server)).toContain(
      'officero_webhooks_refused_total{route="voice",reason="body_too_large"} 1',
    );
    const rejected = await server.context.metrics.registry.getSingleMetricAsString(
      "officero_webhooks_rejected_total",
    );
    // The signature check never ran: no bad-signature rejection was counted.
    expect(rejected).not.toMatch(/officero_webhooks_rejected_total\{[^}]*\} [1-9]/);
    expect(started.logs.messages().some((m) => m.startsWith("refused webhook"))).toBe(true);
  });

  it("refuses a small form with more parameters than Twilio sends", async () => {
    const started = await startTestServer();
    server = started.server;
    const form = Array.from({ length: WEBHOOK_MAX_PARAMETERS + 1 }, (_, i) => `p${i}=`).join("&");
    expect(form.length).toBeLessThan(4096);
    const response = await post(server, `${form}&CallSid=${sid("CA")}`, { url: "/twilio/status" });
    expect(response.statusCode).toBe(413);
    expect(await refusals(server)).toContain(
      'officero_webhooks_refused_total{route="status",reason="too_many_parameters"} 1',
    );
    expect(started.logs.messages()).not.toContain("call status");
  });

  it("refuses by Content-Length alone, without waiting for (or reading) the body", async () => {
    server = (await startTestServer()).server;
    await server.app.listen({ port: 0, host: "127.0.0.1" });
    const address = server.app.server.address();
    if (address === null || typeof address === "string") throw new Error("no TCP address");
    const socket = connect(address.port, "127.0.0.1");
    const answer = new Promise<string>((resolve, reject) => {
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk.toString();
        if (text.includes("\r\n\r\n")) resolve(text);
      });
      socket.on("error", reject);
    });
    // Headers only: a server that waited for the body would never answer.
    socket.write(
      "POST /twilio/voice HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
        "Content-Length: 1000000\r\n\r\n",
    );
    expect((await answer).split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large");
    socket.destroy();
  });

  it("gives each source a budget per minute, counted in a metric; other sources are unaffected", async () => {
    const started = await startTestServer({ WEBHOOK_RATE_LIMIT_PER_MINUTE: "3" });
    server = started.server;
    const body = new URLSearchParams(voiceParams()).toString();
    const from = { remoteAddress: "203.0.113.7" };
    for (let i = 0; i < 3; i += 1) expect((await post(server, body, from)).statusCode).toBe(200);
    const limited = await post(server, body, from);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(await refusals(server)).toContain(
      'officero_webhooks_refused_total{route="voice",reason="rate_limited"} 1',
    );
    // Another address, and an outside client forwarded by a proxy on this machine, have budgets of their own.
    expect((await post(server, body, { remoteAddress: "203.0.113.8" })).statusCode).toBe(200);
    expect((await post(server, body, { forwardedFor: "198.51.100.1" })).statusCode).toBe(200);
  });

  it("counts a client that forges X-Forwarded-For against its own address", async () => {
    server = (await startTestServer({ WEBHOOK_RATE_LIMIT_PER_MINUTE: "2" })).server;
    const body = new URLSearchParams(voiceParams()).toString();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const forged = { remoteAddress: "203.0.113.7", forwardedFor: `198.51.100.${i}` };
      statuses.push((await post(server, body, forged)).statusCode);
    }
    expect(statuses).toEqual([200, 200, 429]);
  });
});
