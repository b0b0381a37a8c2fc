import { describe, expect, it } from "vitest";
import { parseInboundMessage } from "../../src/twilio/media-stream-protocol.js";
import { TwilioStreamEncoder, twilioSid } from "../../tools/caller/stream-messages.js";

describe("TwilioStreamEncoder", () => {
  const encoder = () => new TwilioStreamEncoder(twilioSid("AC"), twilioSid("CA"), twilioSid("MZ"));

  it("makes 34-character SIDs", () => {
    for (const prefix of ["AC", "CA", "MZ"] as const)
      expect(twilioSid(prefix)).toMatch(/^(AC|CA|MZ)[0-9a-f]{32}$/);
  });

  it("writes messages the server's parser accepts, numbers as strings as real Twilio sends them", () => {
    const stream = encoder();
    const start = JSON.parse(stream.start({ token: "t", from: "+1" }));
    expect(start).toMatchObject({
      event: "start",
      sequenceNumber: "1",
      streamSid: stream.streamSid,
      start: {
        callSid: stream.callSid,
        accountSid: stream.accountSid,
        streamSid: stream.streamSid,
        tracks: ["inbound"],
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
        customParameters: { token: "t", from: "+1" },
      },
    });
    const frame = new Uint8Array(160).fill(0x7e);
    const media = [JSON.parse(stream.media(frame)), JSON.parse(stream.media(frame))];
    expect(media.map((m) => [m.sequenceNumber, m.media.chunk, m.media.timestamp])).toEqual([
      ["2", "1", "52"],
      ["3", "2", "72"],
    ]);
    expect(Buffer.from(media[0].media.payload, "base64")).toEqual(Buffer.from(frame));
    expect(media[0].media.payload).toHaveLength(216);
    // Mark echoes share the sequence counter with media; chunk counts media only.
    expect(JSON.parse(stream.mark("m1"))).toMatchObject({ sequenceNumber: "4", mark: { name: "m1" } });
    expect(JSON.parse(stream.media(frame)).media).toMatchObject({ chunk: "3", timestamp: "92" });
    expect(JSON.parse(stream.stop())).toMatchObject({
      sequenceNumber: "6",
      stop: { callSid: stream.callSid, accountSid: stream.accountSid },
    });

    for (const text of [
      stream.connected(),
      stream.start({}),
      stream.media(frame),
      stream.mark("x"),
      stream.stop(),
    ]) {
      expect(parseInboundMessage(text)).toMatchObject({ ok: true });
    }
  });
});
