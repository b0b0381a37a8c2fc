/**
 * Deepgram's results -> the vendor-neutral `SttEvent`s the call machine speaks: when the caller's speech
 * starts and ends, and their words in between.
 *
 * Deepgram says "speech ended" in two ways (a final with `speech_final`, its endpointer's pause; or
 * `UtteranceEnd`, a gap after the last word that also catches noisy lines where the endpointer never fires)
 * and "speech started" in two ways (`SpeechStarted`, its VAD, which noise also triggers; or simply words
 * arriving). Each is mapped once, so the utterance the machine sees always reads: speechStarted, words,
 * speechEnded. A `SpeechStarted` that no word follows (noise, a cough) is closed by the next empty final,
 * which Deepgram sends when it finishes the stretch of audio, so the call never waits on a noise forever.
 */
import type { SttEvent } from "../../../machines/engines.js";
import type { DeepgramEvent } from "./messages.js";

export class DeepgramSpeechTurns {
  /** The caller's speech started (by the VAD or by words) and has not ended. */
  private speaking = false;
  /** Words arrived since the speech started. */
  private heardWords = false;

  constructor(private readonly emit: (event: SttEvent) => void) {}

  accept(event: DeepgramEvent): void {
    switch (event.type) {
      case "speechStarted":
        this.start(event.timestamp);
        return;
      case "results": {
        const end = round(event.start + event.duration);
        const words = event.text.trim() !== "";
        if (words) {
          this.start(event.start);
          this.heardWords = true;
        }
        const { text, start, confidence } = event;
        if (!event.isFinal) {
          if (words) this.emit({ type: "interim", text, start, end, confidence });
          return;
        }
        if (words) this.emit({ type: "final", text, start, end, confidence });
        if (event.speechFinal || (this.speaking && !this.heardWords)) this.end(end);
        return;
      }
      case "utteranceEnd":
        this.end(event.lastWordEnd);
        return;
    }
  }

  /** The connection dropped: Deepgram will never end the speech in progress, so it ends here. */
  interrupt(at: number): void {
    this.end(round(at));
  }

  private start(at: number): void {
    if (this.speaking) return;
    this.speaking = true;
    this.heardWords = false;
    this.emit({ type: "speechStarted", at });
  }

  private end(at: number): void {
    if (!this.speaking) return;
    this.speaking = false;
    this.emit({ type: "speechEnded", at });
  }
}

/** To the millisecond, as the parsed times are, so sums like 3.28000000002 stay readable. */
function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
