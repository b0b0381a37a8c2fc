/**
 * The recent decoded audio of one call, addressed by absolute sample index since the stream began. The
 * segmenter reads VAD windows and segment audio (pre-roll included) out of it and says how far back it still
 * needs; older samples are dropped by moving the kept tail to the front once it has drifted half the buffer,
 * so a call of any length costs at most its longest segment plus pre-roll, and appending stays amortised O(1).
 */
import { MULAW_TO_FLOAT } from "../../audio/mulaw.js";

const INITIAL_CAPACITY = 8000 * 4;

export class SampleHistory {
  private buffer = new Float32Array(INITIAL_CAPACITY);
  /** Absolute index of `buffer[0]`. */
  private base = 0;
  /** Absolute index one past the newest sample: every sample ever appended. */
  private total = 0;

  get end(): number {
    return this.total;
  }

  /** Decodes mu-law bytes onto the end. */
  appendMulaw(codes: Uint8Array): void {
    this.reserve(codes.length);
    let at = this.total - this.base;
    for (let i = 0; i < codes.length; i++) this.buffer[at++] = MULAW_TO_FLOAT[codes[i] as number] as number;
    this.total += codes.length;
  }

  /** A view of [from, to): valid only until the next append or trim. */
  view(from: number, to: number): Float32Array {
    this.checkRange(from, to);
    return this.buffer.subarray(from - this.base, to - this.base);
  }

  /** A copy of [from, to), the caller's to keep. */
  copy(from: number, to: number): Float32Array {
    return this.view(from, to).slice();
  }

  /** Samples before `sample` will not be read again. */
  forgetBefore(sample: number): void {
    const drop = Math.min(sample, this.total) - this.base;
    if (drop <= 0 || drop < this.buffer.length / 2) return;
    this.buffer.copyWithin(0, drop, this.total - this.base);
    this.base += drop;
  }

  private reserve(extra: number): void {
    const needed = this.total - this.base + extra;
    if (needed <= this.buffer.length) return;
    let capacity = this.buffer.length;
    while (capacity < needed) capacity *= 2;
    const grown = new Float32Array(capacity);
    grown.set(this.buffer.subarray(0, this.total - this.base));
    this.buffer = grown;
  }

  private checkRange(from: number, to: number): void {
    if (from < this.base || to > this.total || from > to) {
      throw new RangeError(`samples [${from}, ${to}) are outside the history [${this.base}, ${this.total})`);
    }
  }
}
