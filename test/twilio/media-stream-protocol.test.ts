import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildClearMessage,
  buildMarkMessage,
  buildMediaMessage,
  decodeMediaPayload,
  MAX_INBOUND_MESSAGE_BYTES,
  mediaSchema,
  parseInboundMessage,
} from "../../src/twilio/media-stream-protocol.js";
import { TwilioStreamScript } from "../support/twilio-messages.js";

const script = () => new TwilioStreamScript();

describe("parseInboundMessage", () => {
  it("parses every inbound event as real Twilio traffic shapes it (numbers as strings)", () => {
    const s = script();
    const connected = parseInboundMessage(s.connected());
    expect(connected).toEqual({
      ok: true,
      message: { event: "connected", protocol: "Call", version: "0.2.0" },
    });

    const start = parseInboundMessage(s.start({ from: "+15550001111", token: "t" }));
    expect(start.ok && start.message.event === "start" && start.message).toMatchObject({
      sequenceNumber: 1,
      streamSid: s.streamSid,
      start: {
        callSid: s.callSid,
        customParameters: { from: "+15550001111", token: "t" },
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    });

    const media = parseInboundMessage(s.media(new Uint8Array(160).fill(0xff)));
    expect(media.ok && media.message.event === "media" && media.message.media).toMatchObject({
      chunk: 1,
      timestamp: 52,
      track: "inbound",
    });

    expect(parseInboundMessage(s.mark("t1.s0.g1"))).toMatchObject({
      ok: true,
      message: { mark: { name: "t1.s0.g1" } },
    });
    expect(parseInboundMessage(s.dtmf("5"))).toMatchObject({ ok: true, message: { dtmf: { digit: "5" } } });
    // A-D in either case is the same key, as the call's key-press guard (isDtmfKey) expects it: upper case.
    expect(parseInboundMessage(s.dtmf("b"))).toMatchObject({ ok: true, message: { dtmf: { digit: "B" } } });
    expect(parseInboundMessage(s.stop())).toMatchObject({ ok: true, message: { event: "stop" } });
  });

  it("accepts keys in any order and numbers given as numbers", () => {
    const raw = '{"media":{"payload":"/w==","timestamp":99,"chunk":3},"streamSid":"MZ1","event":"media"}';
    expect(parseInboundMessage(raw)).toMatchObject({
      ok: true,
      message: { media: { timestamp: 99, chunk: 3 } },
    });
  });

  it.each([
    ["{not json", "invalid_json", /invalid JSON/],
    ["[1,2]", "invalid_json", /not a JSON object/],
    ['"media"', "invalid_json", /not a JSON object/],
    ['{"event":"hello"}', "unknown_event", /unknown event "hello"/],
    ['{"no":"event"}', "unknown_event", /unknown event undefined/],
    ['{"event":"media","media":{}}', "malformed", /malformed media message: media.payload/],
    ['{"event":"start","streamSid":"MZ1","start":{}}', "malformed", /start.callSid/],
    ['{"event":"media","sequenceNumber":"abc","media":{"payload":"/w=="}}', "malformed", /sequenceNumber/],
    ['{"event":"dtmf","dtmf":{"digit":"55"}}', "malformed", /one DTMF digit/],
    ['{"event":"mark","mark":{"name":7}}', "malformed", /mark.name/],
  ])("rejects %s as %s with a reason fit for a log line", (raw, kind, reason) => {
    const result = parseInboundMessage(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.kind).toBe(kind);
      expect(result.reason).toMatch(reason);
    }
  });

  it("rejects oversized messages before parsing them", () => {
    const result = parseInboundMessage(`{"event":"media","pad":"${"x".repeat(MAX_INBOUND_MESSAGE_BYTES)}"}`);
    expect(result).toMatchObject({ ok: false, kind: "oversized" });
  });
});

describe("the media fast path", () => {
  /** Every kind of value a field of a `media` message might hold, valid or not. */
  const anyField = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.integer().map(String),
    fc.constantFrom("", "12a", "-0", "1.5", " 7", "inbound", "9".repeat(400)),
    fc.string(),
    fc.array(fc.integer(), { maxLength: 2 }),
    fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 }),
  );
  const mediaLike = fc.record(
    {
      event: fc.constant("media"),
      sequenceNumber: anyField,
      streamSid: anyField,
      media: fc.oneof(
        anyField,
        fc.record(
          { track: anyField, chunk: anyField, timestamp: anyField, payload: anyField, extra: anyField },
          { requiredKeys: [] },
        ),
      ),
      extra: anyField,
    },
    { requiredKeys: ["event"] },
  );

  it("gives the schema's answer for any media message, valid or not", () => {
    fc.assert(
      fc.property(mediaLike, (message) => {
        const raw = JSON.stringify(message);
        // What zod alone makes of it (JSON.parse first: the wire has no `undefined`).
        const expected = mediaSchema.safeParse(JSON.parse(raw));
        const parsed = parseInboundMessage(raw);
        expect(parsed.ok).toBe(expected.success);
        if (parsed.ok && expected.success) expect(parsed.message).toEqual(expected.data);
      }),
      { numRuns: 3000 },
    );
  });

  it("still explains what is wrong with a malformed media message", () => {
    expect(parseInboundMessage('{"event":"media","media":{"payload":"AAAA","chunk":"two"}}')).toEqual({
      ok: false,
      kind: "malformed",
      reason: expect.stringMatching(/^malformed media message: media\.chunk /),
    });
    expect(
      parseInboundMessage('{"event":"media","media":{"payload":"AAAA","timestamp":1e999}}'),
    ).toMatchObject({
      ok: false,
      kind: "malformed",
    });
  });
});

describe("decodeMediaPayload", () => {
  const target = Buffer.alloc(8000);

  it("decodes a 216-character payload into the 160-byte frame, reusing the target", () => {
    const frame = Uint8Array.from({ length: 160 }, (_, i) => i);
    const payload = Buffer.from(frame).toString("base64");
    expect(payload).toHaveLength(216);
    expect(decodeMediaPayload(payload, target)).toBe(160);
    expect([...target.subarray(0, 160)]).toEqual([...frame]);
  });

  it.each([
    ["", /empty/],
    ["@@@@", /not valid base64/],
    ["/w=", /not valid base64/],
    ["/w==/w==", /not valid base64/],
    ["ab cd", /not valid base64/],
    ["A".repeat(12_000), /larger than 1 s/],
  ])("refuses %j", (payload, reason) => {
    expect(decodeMediaPayload(payload, target)).toMatch(reason);
  });
});

describe("outbound builders", () => {
  it("build exactly the three messages Twilio accepts, as valid JSON", () => {
    const audio = Uint8Array.from([0xff, 0x7f, 0x00]);
    expect(JSON.parse(buildMediaMessage("MZ1", audio))).toEqual({
      event: "media",
      streamSid: "MZ1",
      media: { payload: "/38A" },
    });
    expect(JSON.parse(buildMarkMessage("MZ1", 'turn "1"'))).toEqual({
      event: "mark",
      streamSid: "MZ1",
      mark: { name: 'turn "1"' },
    });
    expect(JSON.parse(buildClearMessage("MZ1"))).toEqual({ event: "clear", streamSid: "MZ1" });
  });

  it("encodes a view of a larger buffer without reading past it", () => {
    const big = Uint8Array.from({ length: 320 }, (_, i) => i & 0xff);
    const message = JSON.parse(buildMediaMessage("MZ1", big.subarray(160, 163)));
    expect([...Buffer.from(message.media.payload, "base64")]).toEqual([160, 161, 162]);
  });
});
