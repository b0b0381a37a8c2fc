/**
 * Cuts a mu-law byte stream of arbitrary chunk sizes into Twilio's 20 ms frames (160 bytes at 8 kHz).
 */
import { MULAW_SILENCE } from "./mulaw.js";

export const FRAME_MS = 20;
export const MULAW_FRAME_BYTES = 160;

/**
 * Receives each complete frame. The array is the framer's one reusable frame buffer: it is valid only until
 * the handler returns, after which the framer overwrites it. Encode it (e.g. base64) or copy it before then.
 */
export type FrameHandler = (frame: Uint8Array) => void;

export class MulawFramer {
  private readonly frame = new Uint8Array(MULAW_FRAME_BYTES);
  private filled = 0;

  /** Bytes waiting for the rest of their frame. */
  get bufferedBytes(): number {
    return this.filled;
  }

  /**
   * Appends `chunk` and hands every frame it completes to `onFrame`, in order. Allocates nothing. Should
   * `onFrame` throw, the frame it was given counts as sent and the rest of `chunk` is dropped.
   */
  push(chunk: Uint8Array, onFrame: FrameHandler): void {
    const frame = this.frame;
    let filled = this.filled;
    for (let i = 0; i < chunk.length; i++) {
      frame[filled++] = chunk[i] as number;
      if (filled === MULAW_FRAME_BYTES) {
        // Reset before calling out, so that a handler that throws leaves the framer consistent.
        filled = 0;
        this.filled = 0;
        onFrame(frame);
      }
    }
    this.filled = filled;
  }

  /** Emits the last partial frame, padded to full length with mu-law silence; nothing when none is pending. */
  flush(onFrame: FrameHandler): void {
    if (this.filled === 0) return;
    this.frame.fill(MULAW_SILENCE, this.filled);
    this.filled = 0;
    onFrame(this.frame);
  }

  /** Discards the pending partial frame (barge-in: what was not sent will not be played). */
  reset(): void {
    this.filled = 0;
  }
}
