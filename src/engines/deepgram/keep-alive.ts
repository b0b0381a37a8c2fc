/**
 * Deepgram closes a stream that receives nothing for about 10 s. While no audio flows (a caller on hold, a
 * muted leg), a `KeepAlive` goes out at the end of every interval in which no audio was sent.
 */
export class KeepAlive {
  private timer: NodeJS.Timeout | undefined;
  private audioSent = false;

  constructor(
    private readonly intervalMs: number,
    private readonly sendKeepAlive: () => void,
  ) {}

  /** (Re)starts the intervals, for a connection just opened. */
  start(): void {
    this.stop();
    this.audioSent = false;
    this.timer = setInterval(() => {
      if (!this.audioSent) this.sendKeepAlive();
      this.audioSent = false;
    }, this.intervalMs);
  }

  noteAudio(): void {
    this.audioSent = true;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
