/**
 * Calls that did not come from Twilio through our webhook are refused on real sockets, before a word is
 * spoken or an engine is touched: a forged webhook signature, a forged stream upgrade signature, a stream
 * without its token, and a token issued for another call.
 */
import twilio from "twilio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { CallerError, parseConnectStreamTwiml } from "../../tools/caller/index.js";
import { TwilioStreamScript } from "../support/twilio-messages.js";
import { E2E_AUTH_TOKEN, hostedFakes, startVoiceStack, type VoiceStack } from "./voice-stack.js";

const STREAM_URL = "wss://voice.example.com/twilio/stream";

/** What the server did with a stream we opened: how it closed, and whether it said anything first. */
interface StreamOutcome {
  closeCode: number;
  messages: string[];
}

describe("streams that did not come through our webhook", () => {
  let stack: VoiceStack;
  beforeAll(async () => {
    stack = await startVoiceStack();
  });
  afterAll(() => stack.close());

  /** Opens the media stream as Twilio would; `signature` defaults to a valid one. */
  function openStream(signature = twilio.getExpectedTwilioSignature(E2E_AUTH_TOKEN, STREAM_URL, {})) {
    return new WebSocket(`${stack.url.replace("http", "ws")}/twilio/stream`, {
      headers: { "x-twilio-signature": signature },
    });
  }

  /** Sends `connected` and `start` with these parameters and waits for the server to close the stream. */
  async function startStream(
    callSid: string,
    customParameters: Record<string, string>,
  ): Promise<StreamOutcome> {
    const socket = openStream();
    const script = new TwilioStreamScript(callSid);
    const messages: string[] = [];
    socket.on("message", (data) => messages.push(String(data)));
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(script.connected());
    socket.send(script.start(customParameters));
    const closeCode = await new Promise<number>((resolve) => socket.once("close", resolve));
    return { closeCode, messages };
  }

  /** A real stream token: the one the voice webhook hands Twilio for `callSid`. */
  async function tokenFor(callSid: string): Promise<string> {
    const form = { CallSid: callSid, From: "+15555550123", To: "+15555550100" };
    const response = await fetch(`${stack.url}/twilio/voice`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio.getExpectedTwilioSignature(
          E2E_AUTH_TOKEN,
          "https://voice.example.com/twilio/voice",
          form,
        ),
      },
      body: new URLSearchParams(form).toString(),
    });
    expect(response.status).toBe(200);
    const token = parseConnectStreamTwiml(await response.text()).parameters.token;
    if (!token) throw new Error("the TwiML carries no stream token");
    return token;
  }

  function expectNothingStarted(): void {
    expect(stack.actors).toHaveLength(0);
    expect(hostedFakes(stack).deepgram.handshakes).toHaveLength(0);
    expect(stack.llm.requests).toHaveLength(0);
  }

  it("refuses a webhook with a forged signature (403), so no call is placed", async () => {
    const refused = stack.call(["yes-speechcommands.wav"], { authToken: "not-the-server-token" });
    await expect(refused).rejects.toBeInstanceOf(CallerError);
    await expect(refused).rejects.toMatchObject({ code: "webhook-refused" });
    expectNothingStarted();
  });

  it("refuses a stream upgrade with a forged signature (403), before any WebSocket exists", async () => {
    const socket = openStream(twilio.getExpectedTwilioSignature("forged-token", STREAM_URL, {}));
    const status = await new Promise<number>((resolve, reject) => {
      socket.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
      socket.once("open", () => reject(new Error("the forged upgrade was accepted")));
      socket.on("error", () => {});
    });
    socket.terminate();
    expect(status).toBe(403);
    expectNothingStarted();
  });

  it("closes a stream whose start carries no token, without a word spoken", async () => {
    const outcome = await startStream("CA00000000000000000000000000000001", { from: "+15555550123" });
    expect(outcome).toEqual({ closeCode: 1008, messages: [] });
    expectNothingStarted();
  });

  it("closes a stream whose token was issued for another call", async () => {
    const token = await tokenFor("CA00000000000000000000000000000002");
    const outcome = await startStream("CA00000000000000000000000000000003", { token });
    expect(outcome).toEqual({ closeCode: 1008, messages: [] });
    expectNothingStarted();
  });

  it("accepts the same stream with the token of its own call (the refusals above are the checks)", async () => {
    const callSid = "CA00000000000000000000000000000004";
    const socket = openStream();
    const script = new TwilioStreamScript(callSid);
    const firstMessage = new Promise<string>((resolve) =>
      socket.once("message", (data) => resolve(String(data))),
    );
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(script.connected());
    socket.send(script.start({ token: await tokenFor(callSid) }));

    // The greeting: the call was accepted and speaks.
    expect(JSON.parse(await firstMessage)).toMatchObject({ event: "media", streamSid: script.streamSid });
    socket.send(script.stop());
    socket.close();
    await stack.callsEnded(1);
    expect(stack.actors).toHaveLength(1);
  });
});
