/**
 * The route, the call factory and the call actor together, over the Media Streams socket: what Twilio
 * sends reaches the actor, what the actor decides reaches Twilio, and instruments see the call.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { InspectionEvent } from "xstate";
import { callConfig } from "../../machines/call-config.js";
import { createCallFactory } from "../../src/call-factory.js";
import type { Server } from "../../src/server.js";
import { audioOf, cachedPhrases, FakeStt, FakeTts, ScriptedLlm } from "../machines/call-fakes.js";
import { connectStreamOverTcp, startTestServer } from "../support/test-server.js";
import { TwilioStreamScript } from "../support/twilio-messages.js";

let server: Server | undefined;
afterEach(async () => {
  await server?.app.close();
  server = undefined;
});

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

describe("a call through the stream route", () => {
  it("greets on start, streams the caller's audio to STT, ends the actor on stop and tells the instruments", async () => {
    const config = callConfig();
    const stt = new FakeStt();
    const inspected: InspectionEvent[] = [];
    const lifecycle: string[] = [];
    const createCall = createCallFactory({
      engines: { stt, llm: new ScriptedLlm(), tts: new FakeTts() },
      phrases: cachedPhrases(Object.values(config.phrases)),
      config,
      instruments: [
        {
          attach: ({ start }) => {
            lifecycle.push(`attach ${start.callSid}`);
            return {
              inspect: (event) => inspected.push(event),
              started: (actor) => lifecycle.push(`started ${actor.getSnapshot().status}`),
              ended: () => lifecycle.push("ended"),
            };
          },
        },
        // A broken instrument is logged and never reaches the call.
        {
          attach: () => ({
            started: () => {
              throw new Error("broken instrument");
            },
          }),
        },
      ],
    });
    const started = await startTestServer({}, createCall);
    server = started.server;
    // A real TCP socket: the server closes the stream itself at the end, which injectWS cannot show.
    const { ws, received } = await connectStreamOverTcp(server);
    const s = new TwilioStreamScript();
    ws.send(s.connected());
    const greetingMarked = new Promise<void>((resolve) =>
      ws.on("message", (data) => {
        if (JSON.parse(data.toString()).event === "mark") resolve();
      }),
    );
    ws.send(s.start({ token: server.context.tokens.issue(s.callSid) }));
    // Waiting for the mark rather than a fixed delay: on a loaded CI machine 30 ms was not always enough.
    await greetingMarked;

    // The greeting leaves as 20 ms media frames followed by its mark.
    const greeting = audioOf(config.phrases.greeting);
    const media = received.filter((m) => m.event === "media");
    const sent = Buffer.concat(
      media.map((m) => Buffer.from((m.media as { payload: string }).payload, "base64")),
    );
    expect(sent.equals(Buffer.from(greeting))).toBe(true);
    expect(received.at(-1)).toMatchObject({ event: "mark", streamSid: s.streamSid });

    for (let i = 0; i < 10; i += 1) ws.send(s.media(new Uint8Array(160).fill(0xff)));
    await settle();
    expect(stt.session.framesReceived).toBe(10);

    const closedByServer = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.send(s.stop());
    await settle();
    expect(stt.session.closed).toBe(true);
    // The actor closed the stream itself once the call ended.
    expect(await closedByServer).toBe(1000);
    await settle();
    expect(lifecycle).toEqual([`attach ${s.callSid}`, "started active", "ended"]);
    expect(inspected.some((e) => e.type === "@xstate.event" && e.event.type === "twilio.start")).toBe(true);
    expect(started.logs.messages()).toContain("a call instrument failed; the call goes on");
    expect(server.context.activeCalls()).toBe(0);
  });
});
