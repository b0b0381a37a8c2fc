/**
 * A fixed-size byte ring holding the caller's audio on its way to Deepgram.
 *
 * Every frame is copied in (the Twilio session reuses its frame buffer), then sent from here as a view:
 * at once while the socket is open, or all together once it (re)opens. One allocation per call instead of
 * one per frame. A view stays valid long after the socket has copied it out, because a slot is only
 * overwritten after a whole ring's worth of newer audio (seconds) has come in.
 *
 * When more audio is pending than fits (a long outage), the oldest pending audio is dropped: the caller's
 * latest words matter more to the conversation than the start of a long stretch nobody transcribed.
 */
export class AudioRing {
  private readonly buffer: Uint8Array;
  /** Index of the oldest pending byte. */
  private head = 0;
  private pending = 0;

  /**
   * @param capacity bytes of audio the ring holds
   * @param sampleBytes bytes per sample (2 for PCM16), so drops never split a sample
   */
  constructor(
    capacity: number,
    private readonly sampleBytes: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < sampleBytes || capacity % sampleBytes !== 0) {
      throw new RangeError(
        `audio ring capacity must be a positive multiple of ${sampleBytes} bytes, got ${capacity}`,
      );
    }
    this.buffer = new Uint8Array(capacity);
  }

  get capacity(): number {
    return this.buffer.length;
  }

  /** Bytes written but not yet drained. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Copies `bytes` in; returns how many pending bytes (oldest first) were dropped to make room. */
  write(bytes: Uint8Array): number {
    let source = bytes;
    let dropped = 0;
    if (source.length > this.buffer.length) {
      // Bigger than the whole ring: only its newest part can be kept.
      const skip = source.length - this.buffer.length;
      dropped += skip;
      source = source.subarray(skip);
    }
    const overflow = this.pending + source.length - this.buffer.length;
    if (overflow > 0) {
      const drop = Math.ceil(overflow / this.sampleBytes) * this.sampleBytes;
      this.head = (this.head + drop) % this.buffer.length;
      this.pending -= drop;
      dropped += drop;
    }
    const tail = (this.head + this.pending) % this.buffer.length;
    const firstPart = Math.min(source.length, this.buffer.length - tail);
    this.buffer.set(source.subarray(0, firstPart), tail);
    if (firstPart < source.length) this.buffer.set(source.subarray(firstPart), 0);
    this.pending += source.length;
    return dropped;
  }

  /** Hands every pending byte to `send`, oldest first, as at most two views into the ring. */
  drain(send: (bytes: Uint8Array) => void): void {
    if (this.pending === 0) return;
    const firstPart = Math.min(this.pending, this.buffer.length - this.head);
    const views = [this.buffer.subarray(this.head, this.head + firstPart)];
    if (firstPart < this.pending) views.push(this.buffer.subarray(0, this.pending - firstPart));
    this.head = (this.head + this.pending) % this.buffer.length;
    this.pending = 0;
    for (const view of views) send(view);
  }
}
