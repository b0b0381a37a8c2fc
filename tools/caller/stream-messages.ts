/**
 * The messages Twilio sends on a bidirectional Media Stream, shaped as real traffic is (two captured
 * sessions, read but not kept for want of a license: fixtures/real/SOURCES.md, "Found but NOT kept"):
 * every number a string, 34-character SIDs, one `sequenceNumber` counter shared by every message after
 * `connected` (mark echoes included), `chunk` counting media messages from 1, and a media `timestamp` that
 * starts above 0 and advances 20 ms per frame.
 */
import { randomBytes } from "node:crypto";
import { FRAME_MS } from "../../src/audio/frames.js";

/** A fresh Twilio SID: two letters and 32 hex digits. */
export function twilioSid(prefix: "CA" | "MZ" | "AC"): string {
  return `${prefix}${randomBytes(16).toString("hex")}`;
}

/** Real calls showed first timestamps of "52" and "99": the stream's clock starts before its first frame. */
const FIRST_MEDIA_TIMESTAMP = 52;

export class TwilioStreamEncoder {
  private sequence = 0;
  private chunk = 0;
  private timestamp = FIRST_MEDIA_TIMESTAMP;

  constructor(
    readonly accountSid: string,
    readonly callSid: string,
    readonly streamSid: string,
  ) {}

  /** Twilio's first message. Real calls carried version "0.2.0" although the documentation says "1.0.0". */
  connected(): string {
    return '{"event":"connected","protocol":"Call","version":"0.2.0"}';
  }

  start(customParameters: Record<string, string>): string {
    return JSON.stringify({
      event: "start",
      sequenceNumber: this.nextSequence(),
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

  /** One inbound frame. Built as a template: this runs 50 times a second per call. */
  media(frame: Uint8Array): string {
    const sequence = this.nextSequence();
    this.chunk += 1;
    const timestamp = this.timestamp;
    this.timestamp += FRAME_MS;
    const payload = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString("base64");
    return (
      `{"event":"media","sequenceNumber":"${sequence}","media":{"track":"inbound","chunk":"${this.chunk}",` +
      `"timestamp":"${timestamp}","payload":"${payload}"},"streamSid":"${this.streamSid}"}`
    );
  }

  /** The echo of a mark the server sent, once the audio before it has played (or was cleared). */
  mark(name: string): string {
    return JSON.stringify({
      event: "mark",
      sequenceNumber: this.nextSequence(),
      streamSid: this.streamSid,
      mark: { name },
    });
  }

  /** A keypad press on the caller's phone. */
  dtmf(digit: string): string {
    return JSON.stringify({
      event: "dtmf",
      streamSid: this.streamSid,
      sequenceNumber: this.nextSequence(),
      dtmf: { track: "inbound_track", digit },
    });
  }

  stop(): string {
    return JSON.stringify({
      event: "stop",
      sequenceNumber: this.nextSequence(),
      streamSid: this.streamSid,
      stop: { accountSid: this.accountSid, callSid: this.callSid },
    });
  }

  private nextSequence(): string {
    this.sequence += 1;
    return String(this.sequence);
  }
}
