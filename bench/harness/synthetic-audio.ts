/**
 * Stand-in audio for the simulated calls. Nothing in the bench listens to it: the fake STT only tells a frame
 * of silence (every byte the mu-law silence code, as Twilio sends between words) from one that is not.
 */
import { MULAW_FRAME_BYTES } from "../../src/audio/frames.js";
import { MULAW_SILENCE, pcm16ToMulaw } from "../../src/audio/mulaw.js";

const SAMPLES_PER_MS = 8;

/** `ms` of a tone as mu-law 8 kHz, rounded up to whole 20 ms frames, none of which is all silence. */
export function toneMulaw(ms: number, hz = 220): Uint8Array {
  const frames = Math.max(1, Math.ceil((ms * SAMPLES_PER_MS) / MULAW_FRAME_BYTES));
  const pcm = new Int16Array(frames * MULAW_FRAME_BYTES);
  for (let i = 0; i < pcm.length; i++) {
    pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 8000));
  }
  return pcm16ToMulaw(pcm);
}

/** Bytes of mu-law 8 kHz audio in `ms`. */
export function mulawBytes(ms: number): number {
  return Math.round(ms * SAMPLES_PER_MS);
}

/** True for a frame the caller sends while saying nothing. */
export function isSilentFrame(frame: Uint8Array): boolean {
  for (let i = 0; i < frame.length; i++) if (frame[i] !== MULAW_SILENCE) return false;
  return true;
}
