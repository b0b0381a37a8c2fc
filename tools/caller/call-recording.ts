/**
 * Both sides of a simulated call as heard on the line, frame by frame: the caller's audio as sent and the
 * agent's as played back (silence where nothing played), so the two tracks stay aligned in time.
 */
import { MULAW_FRAME_BYTES } from "../../src/audio/frames.js";
import { mulawToPcm16 } from "../../src/audio/mulaw.js";
import { writeWav } from "../../src/audio/wav.js";

const SAMPLE_RATE = 8000;

export class CallRecording {
  private caller = new Uint8Array(SAMPLE_RATE * 10);
  private agent = new Uint8Array(SAMPLE_RATE * 10);
  private length = 0;

  /** Appends one 20 ms frame of each side (both `MULAW_FRAME_BYTES` long). */
  appendFrame(callerFrame: Uint8Array, agentFrame: Uint8Array): void {
    if (this.length + MULAW_FRAME_BYTES > this.caller.length) this.grow();
    this.caller.set(callerFrame, this.length);
    this.agent.set(agentFrame, this.length);
    this.length += MULAW_FRAME_BYTES;
  }

  get durationMs(): number {
    return (this.length / SAMPLE_RATE) * 1000;
  }

  /** The caller's track, mu-law 8 kHz. */
  callerTrack(): Uint8Array {
    return this.caller.slice(0, this.length);
  }

  /** The agent's track as played, mu-law 8 kHz. */
  agentTrack(): Uint8Array {
    return this.agent.slice(0, this.length);
  }

  /** A 16-bit PCM stereo WAV at 8 kHz, caller left and agent right: plays in any audio player. */
  toStereoWav(): Uint8Array {
    const left = mulawToPcm16(this.caller.subarray(0, this.length));
    const right = mulawToPcm16(this.agent.subarray(0, this.length));
    const samples = new Int16Array(this.length * 2);
    for (let i = 0; i < this.length; i++) {
      samples[2 * i] = left[i] as number;
      samples[2 * i + 1] = right[i] as number;
    }
    return writeWav({ sampleRate: SAMPLE_RATE, channels: 2, format: "pcm16", samples });
  }

  private grow(): void {
    const bigger = (track: Uint8Array) => {
      const next = new Uint8Array(track.length * 2);
      next.set(track.subarray(0, this.length));
      return next;
    };
    this.caller = bigger(this.caller);
    this.agent = bigger(this.agent);
  }
}
