/**
 * Inbound Media Streams messages as real Twilio traffic shapes them (PROTOCOL-NOTES): numbers as strings,
 * 34-character SIDs, a first media timestamp that is not 0, `chunk` = sequenceNumber - 1.
 */
import { randomBytes } from "node:crypto";

export const sid = (prefix: "CA" | "MZ" | "AC") => `${prefix}${randomBytes(16).toString("hex")}`;

export class TwilioStreamScript {
  private sequence = 0;
  private timestamp = 52;
  readonly accountSid = sid("AC");

  constructor(
    readonly callSid = sid("CA"),
    readonly streamSid = sid("MZ"),
  ) {}

  connected(): string {
    return JSON.stringify({ event: "connected", protocol: "Call", version: "0.2.0" });
  }

  start(customParameters: Record<string, string>): string {
    this.sequence += 1;
    return JSON.stringify({
      event: "start",
      sequenceNumber: String(this.sequence),
      start: {
        accountSid: this.accountSid,
        streamSid: this.streamSid,
        callSid: this.callSid,
        tracks: ["inbound"],
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
        customParameters,
      },
      streamSid: this.streamSid,
    });
  }

  media(frame: Uint8Array): string {
    this.sequence += 1;
    const message = JSON.stringify({
      event: "media",
      sequenceNumber: String(this.sequence),
      media: {
        track: "inbound",
        chunk: String(this.sequence - 1),
        timestamp: String(this.timestamp),
        payload: Buffer.from(frame).toString("base64"),
      },
      streamSid: this.streamSid,
    });
    this.timestamp += 20;
    return message;
  }

  mark(name: string): string {
    this.sequence += 1;
    return JSON.stringify({
      event: "mark",
      sequenceNumber: String(this.sequence),
      streamSid: this.streamSid,
      mark: { name },
    });
  }

  dtmf(digit: string): string {
    this.sequence += 1;
    return JSON.stringify({
      event: "dtmf",
      streamSid: this.streamSid,
      sequenceNumber: String(this.sequence),
      dtmf: { track: "inbound_track", digit },
    });
  }

  stop(): string {
    this.sequence += 1;
    return JSON.stringify({
      event: "stop",
      sequenceNumber: String(this.sequence),
      streamSid: this.streamSid,
      stop: { accountSid: this.accountSid, callSid: this.callSid },
    });
  }
}
