/**
 * Twilio's playback buffer for the agent's side of the call: audio the server sent is queued and played at
 * 8,000 bytes a second; a mark queued behind audio is echoed only once that audio has played; a mark with
 * nothing ahead of it is echoed at once; `clear` drops the queued audio and echoes every pending mark.
 */
import { MULAW_SILENCE } from "../../src/audio/mulaw.js";

type Entry = { audio: Uint8Array; offset: number } | { mark: string };

export class AgentPlayback {
  private readonly queue: Entry[] = [];
  private head = 0;
  private buffered = 0;

  /** Bytes of agent audio waiting to be played. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** True when nothing is waiting: no audio and no mark. */
  get idle(): boolean {
    return this.head === this.queue.length;
  }

  /** Queues audio the server sent. The array is kept, not copied: do not reuse it. */
  enqueueAudio(audio: Uint8Array): void {
    if (audio.length === 0) return;
    this.queue.push({ audio, offset: 0 });
    this.buffered += audio.length;
  }

  /** Queues a mark; echoes it through `echo` at once when no audio is ahead of it. */
  enqueueMark(name: string, echo: (name: string) => void): void {
    if (this.idle) {
      echo(name);
      return;
    }
    this.queue.push({ mark: name });
  }

  /**
   * Plays the next `out.length` bytes into `out` (mu-law silence where the buffer runs dry) and echoes every
   * mark whose audio has now played. Returns how many bytes of agent audio were played.
   */
  play(out: Uint8Array, echo: (name: string) => void): number {
    let written = 0;
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head] as Entry;
      if ("mark" in entry) {
        this.head += 1;
        echo(entry.mark);
        continue;
      }
      if (written === out.length) break;
      const take = Math.min(out.length - written, entry.audio.length - entry.offset);
      out.set(entry.audio.subarray(entry.offset, entry.offset + take), written);
      written += take;
      entry.offset += take;
      if (entry.offset === entry.audio.length) this.head += 1;
    }
    this.buffered -= written;
    out.fill(MULAW_SILENCE, written);
    this.compact();
    return written;
  }

  /** Drops every queued byte and echoes every pending mark, in order, as Twilio does on `clear`. */
  clear(echo: (name: string) => void): void {
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head] as Entry;
      this.head += 1;
      if ("mark" in entry) echo(entry.mark);
    }
    this.buffered = 0;
    this.compact();
  }

  /** Forgets played entries, so the queue does not grow for the whole call while the agent keeps talking. */
  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 256) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
